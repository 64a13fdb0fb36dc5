"""The kind of device a browser runs on: desktop, mobile, tablet, tv, console, car, wearable or other.

From the user agent as ua-parser splits it (device model, OS) and the words
the UA carries, and from the client hints Chromium browsers send with every
request (``Sec-CH-UA-Mobile``, ``Sec-CH-UA-Platform``) when the hit has
them. Rules, first match:

- tv, console, car, wearable: the UA names such a device or its system
  (Smart TV, HbbTV, webOS TV, Fire TV, Android TV, PlayStation, Xbox,
  Tesla, Wear OS, Apple Watch, ...), or a TV's browser or middleware
  (InettvBrowser, CE-HTML, OIPF, NETTV, Maple, Espial, ...);
- desktop: a laptop or PC line by name (Chromebook, Inspiron, Latitude, ...:
  Android apps and Android-x86 run on them too);
- tablet: a tablet line or a word for one (iPad, Galaxy Tab, MatePad, Redmi
  Pad, SHIELD Tablet, Kindle, Kobo and other e-readers, "; Tablet;"): the
  device list below gives a model it does not know its brand's type, a
  phone's for most;
- for an Android UA (a browser's, or an app's: Dalvik, UCWEB's "Adr"), the
  type Device Detector's device list gives its model (models.py): most
  tablets say "Mobile" as phones do, and many TVs and boxes say nothing;
- tablet: a known tablet model or maker (Fire, Lenovo Tab, Galaxy Tab's
  SM-T..., ...: even when its UA says "Mobile");
- mobile: a phone's system or the word "Mobile" (iPhone, Android phones,
  feature phones and their browsers: MIDP, UP.Browser, Dolfin, Jasmine,
  Japanese carriers' prefixes, ...; phones' browsers asking for desktop
  pages: WPDesktop, Opera's "Linux zbov", Puffin's "AP"), a client hint
  ``Sec-CH-UA-Mobile: ?1``, and Android app UAs (Dalvik, okhttp-style) of a
  model not known as a tablet;
- tablet: any other Android device (Android tablets' browsers leave out
  "Mobile"; Chromium's hint ``?0`` on Android says the same), except on
  Android 1 and 2, which ran on phones (3.0 was the first for tablets);
- desktop: Windows, macOS, Linux, Chrome OS, BSD, a text browser, or a
  desktop platform hint; but a plain "Linux" (not X11, Wayland nor a PC's
  processor) also runs TVs, boxes and phones: there the device list's type
  for a model named anywhere in the UA comes first;
- for a UA of no system known, the device list's type for a model named
  anywhere in it (a feature phone's "LG-A130/V100", "SAMSUNG-GT-E2152/...");
- other: nothing known (agent.py then asks user-agents' family lists, and
  calls a device ua-parser knows by name a phone).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from .regexset import FirstMatch, any_of

DEVICE_TYPES = ("desktop", "mobile", "tablet", "tv", "console", "car", "wearable", "other", "bot")

# (device type, pattern over the whole UA), in order
KINDS = (
    (
        "wearable",
        r"\bWatch\d|Apple Watch|watchOS|Wear ?OS|\bGear ?(?:S|Live|Fit)|SM-[RL]\d{3}|Galaxy Watch|\bWatch\b",
    ),
    ("console", r"PlayStation|\bPS[345]\b|Xbox|Nintendo|\bWiiU?\b|OUYA|Steam Deck"),
    ("car", r"TeslaBrowser|Tesla/\d|QtCarBrowser|Android Automotive|CarPlay|\bAAOS\b|\bcar ?browser"),
    (
        "tv",
        r"Smart-?TV|SmartTV|\bTV\b|HbbTV|Web0S|webOS.TV|NetCast|BRAVIA|GoogleTV|Google TV|Android ?TV|"
        r"\bAFT[A-Z0-9]|\bCrKey\b|Chromecast|\bRoku|AppleTV|Apple TV|tvOS|AQUOS|VIDAA|Tizen.+TV|"
        r"Opera TV|\bOMI/|Viera|\bDTV\b|\bSTB\b|MiTV|MiBOX|Fire ?TV|Philips.*TV|TSBNetTV|ViziOS|"
        r"SHIELD(?: Android TV|[;)]| Build)|"  # not the SHIELD Tablet
        r"\bBox\b|-TV\b|_TV\b|\bTV[-_ ]?Box|"
        # TV browsers and middleware by name (Japanese and European TV standards, set-top boxes)
        r"InettvBrowser|DTVNetBrowser|CE-HTML|\bOIPF\b|Dreambox|NETTV/|Maple ?\d|Espial|Kylo/|AmiNET|"
        r"Freebox|Kreatel|SonyDTV|SonyCEBrowser|WebTV|MSNTV|\bTiVo|Boxee|Toshiba_?TP|Vewd",
    ),
)


# A tablet line's name or a UA's own word for a tablet: a tablet even where the device list says
# otherwise (the list gives the brand's phones' type to a tablet it does not know)
TABLET_LINES = (
    r"(?-i:iPad)|; ?Tablet[;)]|MatePad|MediaPad|Xiaomi Pad|Redmi Pad|OnePlus Pad|Galaxy Tab|"
    r"Pixel (?:C|Tablet)|SHIELD Tablet|Kindle|Kobo|eReader|IdeaTab|ThinkPad Tablet|\bVivoTab|"
    r"Puffin/[\d.]+[AI]T\b"
)
# Tablet models and makers, where the device list knows no better
TABLET_MODELS = (
    r"\bTab\b|Tab[ _-]?[A-Z0-9]|\bPad\b|"
    r"Lenovo (?:TB|YT|TAB)|\bTB[-_ ]?[A-Z0-9]{3,}|\bYT-|Silk/|\bKF[A-Z]{2,4}\b|Nexus (?:7|9|10)\b|"
    r"\bSM-[TPX]\d{3}|\bGT-P\d|\bGT-N[58]\d{3}|\bSHT-|\bBAH\d?-|\bAGS\d?-|\bKOB\d?-|\bDBY-|"
    r"\bBTV-|\bCMR-|\bSCM-|\bJDN\d?-|Transformer|\bK0[01][0-9A-Z]\b|\bP0[0-9]{2}\b|Surface|Xoom|PlayBook|"
    r"\bA[0-9]{3,4}-F\b|\bTPA\b|Lenovo P[0-9]{2}|"
    r"\bMID\b|\bMID-?[0-9]|Build/MID|Archos|Iconia|\bB1-[0-9]{3}|\bA[13]-[A-Z]?[0-9]{2}|Teclast|Chuwi|HiPad"
)


# Laptops and desktop PCs running Android (Android-x86, Phoenix OS) or an Android app
COMPUTERS = (
    r"Chromebook|Chromebox|Inspiron|Latitude|Vostro|OptiPlex|TravelMate|Aspire|EliteBook|ProBook|"
    r"Pavilion|Compaq|ThinkCentre|IdeaPad|Satellite|LIFEBOOK|MacBook|\bNUC[0-9]|"
    r"EasyNote|Swift SF|Macintosh"
)
MOBILE_WORDS = (
    r"Mobile|iPhone|iPod|Windows Phone|Phone|J2ME|MIDP|CLDC|Opera Mini|Series ?[46]0|Symbian|BlackBerry|BB10|"
    r"KaiOS|UCWEB|UC ?Browser|Nokia|SonyEricsson|Samsung-|Obigo|NetFront|Teleca|Profile/|Lumia|UP\.Browser|"
    r"\bBREW\b|MMP/|KDDI-|DoCoMo|portalmmm|Opera Mobi|Maemo|Fennec|\bwebOS/|hpwOS|"
    # feature phones' and old smartphones' browsers and systems
    r"Dolfin/|\bBada\b|Jasmine/|Polaris|Openwave|\bMAUI\b|\bWAP\b|SymbOS|\bS60\b|MIB/|\bMOT-|\bSIE-|"
    r"Windows CE|Smartphone|PalmOS|PalmSource|Minimo|Nucleus|SAMSUNG-|"
    # a phone's browser asking for desktop pages: Windows Phone's, Opera Mini's and Mobile's, Puffin's
    # (whose version ends in AP or IP on a phone); Ubuntu's phone system
    r"WPDesktop|XBLWP7|ZuneWP7|Linux zbov|Linux zvav|Puffin/[\d.]+[AI]P\b|Ubuntu Touch|"
    # phones' browsers that name a desktop system, or none: Skyfire, Bolt, Teashark, Iris, jig, ...
    r"Skyfire|\bBolt/|Teashark|\bIris/|jig ?browser|AvantGo|Danger hiptop|Blazer|SEMC|Novarra|"
    r"Series ?30|SoftBank|J-PHONE|WILLCOM|UP\.Link|Ericsson|ReqwirelessWeb|Doris/"
)
ANDROID_APP = r"^(?:Dalvik/|okhttp|.*\bAndroid \d[^;)]*;[^)]*\) *$)"
# Desktop systems by name: a browser on one of them names no phone, tablet nor TV before it
DESKTOP_WORDS = (
    r"Windows NT|Macintosh|X11|CrOS|FreeBSD|OpenBSD|NetBSD|DragonFly|\bLinux\b|Debian|Ubuntu|Gentoo|"
    r"Red Hat|CentOS|Fedora|SUSE|Slackware|Mandriva|Zenwalk|Solaris|SunOS|\bAIX\b|HP-UX|IRIX|\bOS/2\b|"
    r"ArcaOS|AmigaOS|MorphOS|BeOS|Haiku|RISC OS|SerenityOS|\bUnix\b|Syllable|"
    # text and small browsers of desktop systems, which name none
    r"^(?:Lynx|Links|ELinks|w3m|Dillo|NetSurf)\b"
)
# Every rule's words in one set, in the order they decide: one pass of the regex set a user agent
# says which came first (a "mobile" answer also means no tablet nor TV words were there, ...).
FIRST_KIND = FirstMatch(
    [
        (f"(?i){pattern}", kind)
        for kind, pattern in (
            *KINDS,
            ("computer", COMPUTERS),
            ("tablet_line", TABLET_LINES),
            ("tablet", TABLET_MODELS),
            ("mobile", MOBILE_WORDS),
            ("app", ANDROID_APP),
            ("pc", DESKTOP_WORDS),
        )
    ]
)
OWN_KINDS = {kind for kind, _ in KINDS}
NAMED_KINDS = OWN_KINDS | {"computer", "tablet_line", "mobile", "pc"}
PHONE_SYSTEMS = ("iOS", "Windows Phone", "KaiOS", "Symbian OS", "BlackBerry OS")
DESKTOP_SYSTEMS = ("Windows", "Mac OS X", "macOS", "Mac OS", "Linux", "Ubuntu", "Chrome OS", "Fedora")
DESKTOP_HINTS = {"windows", "macos", "linux", "chrome os", "chromeos"}
is_desktop_word = any_of([f"(?i){DESKTOP_WORDS}"])
# The systems of computers alone (a plain "Linux" runs TVs, boxes and phones as well)
is_computer_system = any_of(
    [r"(?i)Windows NT|Macintosh|Mac OS X|\bCrOS\b|\bX11\b|Wayland|Linux (?:x86_64|i[3-6]86|amd64)"]
)
# Android, as browsers and apps name it; not Chrome's reduced "Android 10; K", which names no model
is_android = any_of([r"Android|\bAdr \d"])
is_reduced = any_of([r"Android [\d.]+; K\)"])
# Android before 3.0 (Honeycomb, the first for tablets) ran on phones: its browsers left out "Mobile"
is_phone_era = any_of([r"Android[ /]?[12]\.\d"])


def names_a_device(ua: str) -> bool:
    """Whether ``ua`` names a TV, console, car or wearable (a TV app's "Roku4640X/DVP-7.70 (...)"):
    such a UA is a device's, not a stranger's (bots.py), though ua-parser knows nothing in it."""
    return FIRST_KIND(ua) in NAMED_KINDS


def hint_values(hints: Mapping[str, str | None] | None) -> tuple[str | None, str | None]:
    """(Sec-CH-UA-Mobile, Sec-CH-UA-Platform), unquoted and lowercase, from headers of any case."""
    if not hints:
        return None, None
    found = {key.lower(): value for key, value in hints.items() if value}
    mobile, platform = found.get("sec-ch-ua-mobile"), found.get("sec-ch-ua-platform")
    return (
        mobile.strip().strip('"').lower() if mobile else None,
        platform.strip().strip('"').lower() if platform else None,
    )


def device_type(
    ua: str,
    os_family: str | None,
    model: str | None,
    hints: Mapping[str, str | None] | None = None,
    model_type: Callable[..., str | None] | None = None,
) -> str:
    """The device type of a user agent that is not a bot (see this module's docstring);
    ``model_type`` is the device list's answer for a UA's model (models.ModelTypes)."""
    kind = FIRST_KIND(ua)
    if kind in OWN_KINDS:
        return kind
    if kind == "computer":
        return "desktop"
    if kind == "tablet_line":
        return "tablet"
    if model_type is not None and is_android(ua) and not is_reduced(ua):
        listed = model_type(ua)
        if listed is not None:
            return listed
    mobile_hint, platform_hint = hint_values(hints)
    if kind == "tablet" or (model and model not in ua and FIRST_KIND(model) in ("tablet", "tablet_line")):
        return "tablet"
    if mobile_hint == "?1" or os_family in PHONE_SYSTEMS:
        return "mobile"
    if os_family == "Android" or "Android" in ua:
        if mobile_hint == "?0":
            return "tablet"
        return "mobile" if kind in ("mobile", "app") or is_phone_era(ua) else "tablet"
    if kind == "mobile":
        return "mobile"
    desktop_words = kind == "pc" or (kind == "app" and is_desktop_word(ua))
    if platform_hint in DESKTOP_HINTS or os_family in DESKTOP_SYSTEMS or desktop_words:
        if model_type is not None and platform_hint is None and not is_computer_system(ua):
            return model_type(ua, True) or "desktop"  # a Linux of some device the list knows
        return "desktop"
    if model_type is not None:  # no system known: a device the list knows, named anywhere in the UA
        return model_type(ua, True) or "other"
    return "other"
