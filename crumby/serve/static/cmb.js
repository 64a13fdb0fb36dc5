// crumby tracker, cmb.js: see "Tracking a site" in crumby's README.
// Hand-written small: it must stay <= 1.5 KB gzipped as served. The server drops the "//" comment
// lines and the indentation when it serves this file (load_tracker in collect.py).
// Names: o options, s the script tag, a its data- attributes, E endpoint, Q calls queued by a stub,
// X download extensions, H count #fragment changes, U/P the last page view's URL (compared/sent), c the API.
(function(w,d,n,l,K){
  // Loaded twice on one page: keep the first copy, so each page view counts once.
  if(w.cmb&&w.cmb.optOut)return;
  // The server fills in {endpoint, dnt, cookieless}.
  var o={/*CRUMBY_OPTIONS*/},
    // Read now: document.currentScript is null after this first run (async and defer alike).
    s=d.currentScript||{},
    a=s.dataset||{},
    E=o.endpoint||s.src&&new URL(s.src).origin||"",
    // A stub {q: [], event: function () { cmb.q.push(arguments) }} may have queued events.
    Q=(w.cmb||{}).q||[],
    X=(a.downloads||"pdf zip gz xz 7z rar dmg exe msi deb rpm apk iso csv xlsx docx pptx odt ods epub mp3 mp4").toLowerCase().split(/[\s,]+/),
    H="hash"in a,
    U=u(),
    P=l.href,
    c;

  // The URL a page view is about: without the #fragment unless data-hash is set.
  function u(){return H?l.href:l.href.split("#")[0]}

  // The local opt-out flag: S() reads it, S("setItem") sets it, S("removeItem") clears it.
  function S(m){try{return m?localStorage[m](K,1):localStorage.getItem(K)}catch(e){}}

  // The cid cookie: first-party, whole site, about two years.
  function C(v,t){d.cookie="cid="+v+";path=/;max-age="+t+";SameSite=Lax"+(l.protocol=="https:"?";Secure":"")}

  // One hit: a JSON beacon (a string goes as text/plain: no CORS preflight), else fetch with
  // keepalive, else the original's GIF pixel. Nothing at all under opt-out or DNT/GPC.
  function h(t,x){
    if(S()==1||o.dnt&&(n.doNotTrack==1||n.globalPrivacyControl))return;
    var p={v:1,t:t,dl:l.href,dt:d.title},f=E+"/collect",q=[],k,j;
    if(!o.cookieless){
      k=d.cookie.match(/(?:^|;\s*)cid=([^;]+)/);
      C(p.cid=k?k[1]:crypto.getRandomValues(new Uint32Array(2)).join(""),63072000);
    }
    for(k in x)p[k]=x[k];
    j=JSON.stringify(p);
    try{if(n.sendBeacon(f,j))return}catch(e){}
    if(w.fetch)return fetch(f,{method:"POST",body:j,keepalive:!0,mode:"no-cors"}).catch(function(){});
    // props (an object) cannot ride in the pixel's query string.
    for(k in p)p[k]!=null&&k!="props"&&q.push(k+"="+encodeURIComponent(p[k]));
    new Image().src=E+"/"+(Math.random()*2147483647|0)+".gif?"+q.join("&");
  }

  function V(r){
    h("visit",{ul:n.language,sd:screen.colorDepth+"-bit",sr:screen.width+"x"+screen.height,
      vp:w.innerWidth+"x"+w.innerHeight,de:d.characterSet,dr:r});
  }

  // A single-page app changed the URL: one page view, referred by the page before.
  function M(){var x=u();if(x!=U){U=x;V(P);P=l.href}}
  // Routers set the new title just after the URL: read both a moment later.
  function D(){setTimeout(M,100)}

  // Left (or middle: new tab) clicks on download links (data-downloads) and outbound links (data-outbound).
  function L(e){
    var t=e.target,x;
    t=t.closest&&t.closest("a[href]");
    if(!t||e.type!="click"&&e.button!=1||!/^http/.test(t.protocol))return;
    x=(t.pathname.match(/\.([^./]+)$/)||[])[1];
    x="downloads"in a&&(t.hasAttribute("download")||x&&X.indexOf(x.toLowerCase())>=0)?"download":"outbound"in a&&t.host!=l.host&&"outbound";
    x&&c.event(x,t.href);
  }

  function g(){V(d.referrer);Q.forEach(function(q){c.event.apply(c,q)})}

  c=w.cmb={
    event:function(name,value,props){h("event",{en:name,ev:value,props:props})},
    optOut:function(){S("setItem");C("",0)},
    optIn:function(){S("removeItem")}
  };
  ["pushState","replaceState"].forEach(function(m){
    var f=history[m];
    history[m]=function(){var r=f.apply(this,arguments);D();return r};
  });
  w.addEventListener("popstate",D);
  H&&w.addEventListener("hashchange",D);
  d.addEventListener("click",L,!0);
  d.addEventListener("auxclick",L,!0);
  // A prerendered page counts once the visitor actually opens it.
  d.prerendering?d.addEventListener("prerenderingchange",g,{once:!0}):g();
})(window,document,navigator,location,"cmb_ignore");
