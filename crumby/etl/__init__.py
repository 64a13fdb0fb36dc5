"""The batch ETL: extract new raw hits, enrich them, load them into the store."""
