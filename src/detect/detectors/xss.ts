/**
 * Cross-site scripting: markup and script that a browser would run if the value were reflected into
 * a page. Several independent linear scans over the lower-cased value, each anchored on one
 * character: "<" (tags), "=" (attributes: event handlers, srcdoc, formaction), ":" (script URLs,
 * with the tab/newline splits browsers ignore), "(" and "`" (calls of script sinks), "." and "["
 * (DOM and global-object access). Every scan looks only a bounded distance around its anchor, so
 * the whole detector is linear in the value's length. No regular expressions.
 *
 * Benign text is the hard part: Markdown and HTML-ish prose ("a<b", "<b>bold</b>", "<img src=…>"),
 * e-mails, URLs and code samples. So plain formatting tags, ordinary attributes and words that only
 * look like sinks in prose ("JavaScript: the good parts", "confirm (twice)") score nothing or less.
 */
import type { Detector, Finding, Input } from '../types.js';

function finding(name: string, score: number, pl: 1 | 2 | 3): Finding {
  return Object.freeze({ rule: `xss-${name}`, family: 'xss', pl, score });
}

/** The findings, one object each (shared, frozen: no allocation per match). */
export const XSS = {
  scriptTag: finding('script-tag', 5, 1),
  dangerousTag: finding('dangerous-tag', 5, 1),
  legacyTag: finding('legacy-tag', 5, 2),
  svgTag: finding('svg-tag', 3, 1),
  breakoutClose: finding('breakout-close', 3, 1),
  obfuscatedTag: finding('obfuscated-tag', 5, 1),
  eventHandler: finding('event-handler', 5, 1),
  dangerousAttr: finding('dangerous-attr', 5, 1),
  xmlInclude: finding('xml-include', 5, 1),
  xmlns: finding('xmlns', 2, 2),
  scriptUrl: finding('script-url', 5, 1),
  scriptUrlProse: finding('script-url-prose', 2, 2),
  dataSvg: finding('data-svg', 2, 2),
  cssScript: finding('css-script', 5, 1),
  jsSink: finding('js-sink', 5, 1),
  jsSinkSpaced: finding('js-sink-spaced', 2, 2),
  domAccess: finding('dom-access', 5, 1),
  domAccessPath: finding('dom-access-path', 2, 2),
  taggedTemplate: finding('tagged-template', 5, 1),
  jsfuck: finding('jsfuck', 5, 1),
  utf7: finding('utf7', 5, 1),
  commentBreakout: finding('comment-breakout', 5, 2),
  ssi: finding('ssi', 5, 1),
  nameMarkup: finding('name-markup', 5, 2),
  highBitTag: finding('high-bit-tag', 5, 1),
  stringBreakoutIn: finding('string-breakout-in', 5, 2),
  remoteImport: finding('remote-import', 5, 2),
} as const;

/** Records a finding once per value (the engine counts a rule once per input anyway). */
function emit(out: Finding[], f: Finding): void {
  if (!out.includes(f)) out.push(f);
}

// ---------------------------------------------------------------------------------------------
// Character classes (on the lower-cased value).

function isSpace(c: number): boolean {
  return c === 32 || c === 9 || c === 10 || c === 13 || c === 12 || c === 11 || c === 160;
}
function isLower(c: number): boolean {
  return c >= 97 && c <= 122;
}
function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}
/** JavaScript identifier characters (ASCII). */
function isIdent(c: number): boolean {
  return isLower(c) || isDigit(c) || c === 95 || c === 36;
}
/** Tag and attribute name characters: letters, digits, "-", "_", ":" (namespaces). */
function isNameChar(c: number): boolean {
  return isLower(c) || isDigit(c) || c === 45 || c === 95 || c === 58;
}
function isQuote(c: number): boolean {
  return c === 34 || c === 39 || c === 96;
}

/**
 * Characters at least one scan is anchored on. A value without any of them (a plain word, a
 * number, a name like O'Brien) is done after one cheap pass.
 */
const LT = 1;
const EQ = 2;
const COLON = 4;
const PAREN = 8;
const TICK = 16;
const MEMBER = 32;
const DASH = 64;
const UPPER = 128;
const BRACKET = 256;
const BANG = 512;
const TRIGGER = new Uint16Array(128);
for (let c = 65; c <= 90; c++) TRIGGER[c] = UPPER;
TRIGGER[60] = LT;
TRIGGER[61] = EQ;
TRIGGER[58] = COLON;
TRIGGER[40] = PAREN;
TRIGGER[96] = TICK;
TRIGGER[46] = MEMBER;
TRIGGER[91] = BRACKET;
TRIGGER[45] = DASH;
TRIGGER[33] = BANG;
TRIGGER[43] = BANG;

/**
 * Anchors that count only after certain characters, so that e-mails, dates, decimals and prose
 * ("john.doe@x.com", "10:30", "2024-01-01", "the end.") stop at the first pass: a "." only after
 * the last letter of a global name (documenT, windoW, selF, toP, frameS, openeR) or ")" or a
 * space; a ":" only after a letter, a space or ";" (a scheme); a "-" only after "-" ("-->") or
 * "w" ("+ADw-").
 */
const CONTEXT = MEMBER | COLON | DASH;
const AFTER = new Uint16Array(128);
for (const ch of 'twfpsrTWFPSR) \t\n\r') AFTER[ch.charCodeAt(0)] |= MEMBER;
for (let c = 65; c <= 90; c++) AFTER[c] = (AFTER[c] as number) | COLON;
for (let c = 97; c <= 122; c++) AFTER[c] = (AFTER[c] as number) | COLON;
for (const ch of ' \t\n\r;\0') AFTER[ch.charCodeAt(0)] |= COLON;
for (const ch of '-wW') AFTER[ch.charCodeAt(0)] |= DASH;

/** Which anchors the value has (a bit each); 0 for most plain values. */
function triggers(v: string): number {
  let m = 0;
  let prev = 32;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c < 128) {
      const t = TRIGGER[c] as number;
      if ((t & CONTEXT) === 0) m |= t;
      else if (prev < 128) m |= t & (AFTER[prev] as number);
    }
    prev = c;
  }
  return m;
}

function words(list: string): Set<string> {
  return new Set(list.split(/\s+/).filter((w) => w !== ''));
}

// ---------------------------------------------------------------------------------------------
// Tags.

/** Elements that load or run content, or change how the page loads: never in user text. */
const DANGEROUS_TAGS = words(`
  iframe frame frameset object embed applet base meta link style vmlframe isindex form import
`);
/** Legacy or parsing-mode elements used in filter evasion; rare in prose, counted at PL2. */
const LEGACY_TAGS = words(`
  noscript xmp plaintext listing noembed noframes marquee bgsound layer ilayer blink keygen
`);
/** Closing one of these ends a raw-text context the payload was reflected into. */
const BREAKOUT_CLOSE = words('title textarea noscript xmp noembed noframes template iframe');
/** Tag names spelled out with spaces ("<f o r m") to slip past naive matchers. */
const SPACED_TAGS = words(`
  script iframe frame object embed applet form dialog svg img image style base meta link body input
  button details video audio marquee textarea select isindex math keygen frameset
`);
/** Tags that count even after whitespace ("< script"): nothing in prose reads like this. */
const SPACED_OK = words('script iframe object embed applet vmlframe');

/** Checks the tag that starts at "<" (index i); returns where the next scan for "<" may start. */
function scanTag(s: string, i: number, xml: XmlContext, out: Finding[]): void {
  const len = s.length;
  let j = i + 1;
  const c = s.charCodeAt(j);
  if (c === 33) {
    // <!--#exec … --> and friends: server-side includes.
    if (s.startsWith('!--#', j)) {
      const k = j + 4;
      for (const d of SSI_DIRECTIVES) if (s.startsWith(d, k)) emit(out, XSS.ssi);
    }
    return;
  }
  if (c === 63) {
    if (s.startsWith('import', j + 1)) emit(out, XSS.dangerousTag);
    return;
  }
  let closing = false;
  if (c === 47) {
    closing = true;
    j++;
  }
  let spaced = false;
  while (j < len && j - i < 8 && isSpace(s.charCodeAt(j))) {
    j++;
    spaced = true;
  }
  const start = j;
  while (j < len && j - start < 40 && isNameChar(s.charCodeAt(j))) j++;
  let name = s.slice(start, j);
  let obfuscated = false;
  // "< x: script", "<x : script": a namespace prefix with spaces around its colon.
  if (name.length > 0 && !name.endsWith(':') && isSpace(s.charCodeAt(j))) {
    let k = j;
    while (k < len && k - j < 8 && isSpace(s.charCodeAt(k))) k++;
    if (s.charCodeAt(k) === 58) {
      name += ':';
      j = k + 1;
    }
  }
  if (name.endsWith(':') && isSpace(s.charCodeAt(j))) {
    let k = j;
    while (k < len && k - j < 8 && isSpace(s.charCodeAt(k))) k++;
    const from = k;
    while (k < len && k - from < 40 && isNameChar(s.charCodeAt(k))) k++;
    if (k > from) {
      name += s.slice(from, k);
      j = k;
      obfuscated = true;
    }
  }
  if (name.length === 0) return;
  // "<f o r m": single letters separated by single spaces.
  if (name.length === 1 && isLower(name.charCodeAt(0)) && s.charCodeAt(j) === 32) {
    let letters = name;
    let k = j;
    while (
      letters.length < 16 &&
      s.charCodeAt(k) === 32 &&
      isLower(s.charCodeAt(k + 1)) &&
      !isNameChar(s.charCodeAt(k + 2))
    ) {
      letters += s[k + 1];
      k += 2;
    }
    if (letters.length >= 3 && SPACED_TAGS.has(letters)) {
      emit(out, XSS.obfuscatedTag);
      return;
    }
  }
  const t = s.charCodeAt(j);
  // A tag name ends at whitespace, "/", ">", the end, or punctuation that is not part of a word
  // ("<script.js", "<john@example.com>" are not tags).
  if (j < len && !isSpace(t) && t !== 47 && t !== 62 && (t === 46 || t === 64 || t === 95 || isNameChar(t)))
    return;
  const colon = name.lastIndexOf(':');
  const local = colon === -1 ? name : name.slice(colon + 1);
  if (local === '') return;
  if (spaced && !obfuscated && !SPACED_OK.has(local)) return;
  if (local === 'script') {
    emit(out, spaced || obfuscated ? XSS.obfuscatedTag : XSS.scriptTag);
    return;
  }
  if (obfuscated && (DANGEROUS_TAGS.has(local) || LEGACY_TAGS.has(local))) {
    emit(out, XSS.obfuscatedTag);
    return;
  }
  if (name === 'xi:include' || local === 'xinclude') {
    if (!xml.raw) emit(out, XSS.xmlInclude);
    return;
  }
  if (local.startsWith('import') && local.includes('implementation')) {
    emit(out, XSS.dangerousTag);
    return;
  }
  if (xml.markup(name)) return;
  if (closing) {
    if (BREAKOUT_CLOSE.has(local)) emit(out, XSS.breakoutClose);
    if (local === 'style' || local === 'iframe') emit(out, XSS.dangerousTag);
    return;
  }
  if (DANGEROUS_TAGS.has(local)) emit(out, XSS.dangerousTag);
  else if (LEGACY_TAGS.has(local)) emit(out, XSS.legacyTag);
  else if (local === 'svg' || local === 'math') emit(out, XSS.svgTag);
}

const SSI_DIRECTIVES = ['exec', 'include', 'echo', 'set', 'config', 'fsize', 'flastmod', 'printenv'];

/**
 * XML bodies are markup by design: their own elements (an Atom <link>, a <meta> block) are not
 * injected HTML. Only markup that appears once entities are decoded (escaped text turned into
 * tags) counts there.
 */
interface XmlContext {
  /** This variant is the XML body as sent. */
  readonly raw: boolean;
  /** The tag (full name, with its prefix) is the body's own markup (XML location only). */
  markup(name: string): boolean;
}

const NOT_XML: XmlContext = { raw: false, markup: () => false };

function xmlContext(value: string, input: Input): XmlContext {
  if (input.location !== 'xml') return NOT_XML;
  if (value === input.value) return { raw: true, markup: () => true };
  let lower: string | undefined;
  const seen = new Map<string, boolean>();
  return {
    raw: false,
    markup(name: string): boolean {
      let known = seen.get(name);
      if (known === undefined) {
        lower ??= input.value.toLowerCase();
        known = lower.includes(`<${name}`);
        seen.set(name, known);
      }
      return known;
    },
  };
}

function scanTags(s: string, xml: XmlContext, out: Finding[]): void {
  for (let i = s.indexOf('<'); i !== -1; i = s.indexOf('<', i + 1)) scanTag(s, i, xml, out);
}

// ---------------------------------------------------------------------------------------------
// Attributes, found from their "=".

/** DOM event handler attributes. Unknown on* names count too, with a stricter boundary. */
const HANDLERS = words(`
  onabort onactivate onafterprint onafterscriptexecute onanimationcancel onanimationend
  onanimationiteration onanimationstart onauxclick onbeforeactivate onbeforecopy onbeforecut
  onbeforedeactivate onbeforeinput onbeforepaste onbeforeprint onbeforescriptexecute onbeforetoggle
  onbeforeunload onbegin onblur onbounce oncancel oncanplay oncanplaythrough onchange onclick onclose
  oncontextmenu oncopy oncuechange oncut ondblclick ondeactivate ondrag ondragend ondragenter
  ondragleave ondragover ondragstart ondrop ondurationchange onemptied onend onended onerror onfinish
  onfocus onfocusin onfocusout onformdata onfullscreenchange onhashchange oninput oninvalid onkeydown
  onkeypress onkeyup onload onloadeddata onloadedmetadata onloadend onloadstart onmessage onmousedown
  onmouseenter onmouseleave onmousemove onmouseout onmouseover onmouseup onmousewheel onmozfullscreenchange
  onoffline ononline onpagehide onpageshow onpaste onpause onplay onplaying onpointercancel onpointerdown
  onpointerenter onpointerleave onpointermove onpointerout onpointerover onpointerrawupdate onpointerup
  onpopstate onprogress onratechange onrepeat onreadystatechange onreset onresize onscroll onscrollend
  onsearch onseeked onseeking onselect onselectionchange onselectstart onshow onstalled onstart onstorage
  onsubmit onsuspend ontimeupdate ontoggle ontouchcancel ontouchend ontouchmove ontouchstart
  ontransitioncancel ontransitionend ontransitionrun ontransitionstart onunhandledrejection onunload
  onvolumechange onwaiting onwebkitanimationend onwebkitanimationiteration onwebkitanimationstart
  onwebkittransitionend onwheel onzoom onfilterchange onpropertychange onhelp onmove onmoveend
  onmovestart onrowenter onrowexit onstop onbeforeupdate onafterupdate onerrorupdate ondataavailable
  ondatasetchanged ondatasetcomplete onlosecapture oncontrolselect onresizeend onresizestart
  onmessageerror onsecuritypolicyviolation onslotchange oncontentvisibilityautostatechange
`);
/** English words that begin with "on" and may sit before "=" in ordinary text or query strings. */
const ON_WORDS = words(`
  once one ones oneself onerous onetime oneway ongoing onion onions online only onset onsite onto
  onward onwards onboard onboarding oncall onsale onhold onprem onpremise onscreen onstage ondemand
  onchain onramp ontology onus onyx onlooker
`);

/** What may stand right before an injected attribute: whitespace, quotes, "/", ";", ",". */
function attrBoundary(c: number): boolean {
  return isSpace(c) || isQuote(c) || c === 47 || c === 59 || c === 44;
}

function scanAttributes(s: string, xml: XmlContext, out: Finding[]): void {
  for (let i = s.indexOf('='); i !== -1; i = s.indexOf('=', i + 1)) {
    if (s.charCodeAt(i + 1) === 61 || s.charCodeAt(i - 1) === 61) continue; // "==" comparisons
    let k = i - 1;
    if (s.charCodeAt(k) === 43) k--; // "+="
    while (k >= 0 && i - k <= 8 && isSpace(s.charCodeAt(k))) k--;
    const end = k + 1;
    while (k >= 0 && end - k <= 48 && isNameChar(s.charCodeAt(k))) k--;
    const start = k + 1;
    if (end - start < 5) continue;
    // Names of interest start with "on", "formaction", "srcdoc", "xmlns", "xsi:", "inner"/"outer".
    const c0 = s.charCodeAt(start);
    if (c0 !== 111 && c0 !== 102 && c0 !== 115 && c0 !== 120 && c0 !== 105) continue;
    const before = k >= 0 ? s.charCodeAt(k) : -1;
    if (before === 46 && (s.startsWith('innerhtml', start) || s.startsWith('outerhtml', start))) {
      // el.innerHTML = …: markup written into the page.
      if (end - start === 9) emit(out, XSS.domAccess);
      continue;
    }
    if (before !== -1 && !attrBoundary(before)) continue;
    classifyAttribute(s.slice(start, end), before, xml, out);
  }
}

function classifyAttribute(name: string, before: number, xml: XmlContext, out: Finding[]): void {
  if (name.startsWith('on')) {
    if (HANDLERS.has(name)) emit(out, XSS.eventHandler);
    // An unknown on* name counts only where it was injected, not in an XML body's own attributes.
    else if (
      (isSpace(before) || isQuote(before)) &&
      !xml.raw &&
      name.length <= 42 &&
      isLetters(name) &&
      !ON_WORDS.has(name)
    )
      emit(out, XSS.eventHandler);
    return;
  }
  if (name === 'formaction' || name === 'srcdoc') emit(out, XSS.dangerousAttr);
  else if (xml !== NOT_XML) return;
  else if (name === 'xsi:schemalocation' || name === 'xsi:nonamespaceschemalocation')
    emit(out, XSS.xmlInclude);
  else if (name === 'xmlns' || name.startsWith('xmlns:')) emit(out, XSS.xmlns);
}

function isLetters(w: string): boolean {
  for (let i = 0; i < w.length; i++) if (!isLower(w.charCodeAt(i))) return false;
  return true;
}

// ---------------------------------------------------------------------------------------------
// Script URLs, found from their ":".

const SCRIPT_SCHEMES = ['javascript', 'vbscript', 'livescript'];
const DATA_SCRIPT_TYPES = [
  'text/html',
  'application/xhtml',
  'text/javascript',
  'application/javascript',
  'application/x-javascript',
  'text/ecmascript',
  'text/vbscript',
  'text/xml',
];

/** Browsers drop tab, newline and carriage return anywhere in a URL ("java\tscript:"). */
function isUrlNoise(c: number): boolean {
  return c === 9 || c === 10 || c === 13 || c === 0;
}

const NOISE_ENTITIES = words('tab newline #9 #09 #x9 #x09 #10 #x0a #xa #13 #x0d #xd');

/** Start of "&tab;"-like entity that ends with the ";" at index semi, or -1. */
function noiseEntityBefore(s: string, semi: number): number {
  let amp = semi - 1;
  while (amp >= 0 && semi - amp <= 9 && s.charCodeAt(amp) !== 38) amp--;
  if (amp < 0 || s.charCodeAt(amp) !== 38) return -1;
  return NOISE_ENTITIES.has(s.slice(amp + 1, semi)) ? amp : -1;
}

/** The letters of s[from, to), without the noise between them (control characters, "&tab;"). */
function lettersOf(s: string, from: number, to: number): string {
  let out = '';
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c === 38) {
      const semi = s.indexOf(';', i);
      if (semi !== -1 && semi < to && semi - i <= 9) i = semi;
    } else if (isLower(c)) out += s[i];
  }
  return out;
}

function scanSchemes(s: string, out: Finding[]): void {
  for (let i = s.indexOf(':'); i !== -1; i = s.indexOf(':', i + 1)) {
    let k = i - 1;
    while (k >= 0 && i - k <= 4 && (isSpace(s.charCodeAt(k)) || s.charCodeAt(k) === 0)) k--;
    // "t&colon;:": the colon itself still encoded once more.
    if (s.charCodeAt(k) === 59 && s.endsWith('&colon', k)) k -= 7;
    const end = k + 1;
    let count = 0;
    let noise = false;
    let steps = 0;
    while (k >= 0 && steps < 40 && count < 12) {
      const c = s.charCodeAt(k);
      if (isLower(c)) count++;
      else if (isUrlNoise(c)) noise = true;
      else if (c === 59 && noiseEntityBefore(s, k) !== -1) {
        // "ja&tab;vascript:" still encoded once more (a value inside XML or HTML).
        noise = true;
        k = noiseEntityBefore(s, k);
      } else break;
      k--;
      steps++;
    }
    // Only "data" (4), "vbscript" (8), "javascript" and "livescript" (10) are of interest.
    if ((count !== 4 && count !== 8 && count !== 10) || (k >= 0 && isLower(s.charCodeAt(k)))) continue;
    const letters = noise ? lettersOf(s, k + 1, end) : s.slice(k + 1, end);
    if (letters === 'data') {
      checkData(s, i + 1, out);
      continue;
    }
    if (!SCRIPT_SCHEMES.includes(letters)) continue;
    if (noise || letters !== 'javascript' || urlContext(s, k) || !proseAfter(s, i + 1))
      emit(out, XSS.scriptUrl);
    else emit(out, XSS.scriptUrlProse);
  }
}

/** An attribute value or CSS url(): after "=" or "(", possibly with a quote and spaces between. */
function urlContext(s: string, k: number): boolean {
  let j = k;
  while (j >= 0 && k - j < 8 && (isSpace(s.charCodeAt(j)) || isQuote(s.charCodeAt(j)))) j--;
  const c = j >= 0 ? s.charCodeAt(j) : -1;
  return c === 61 || c === 40;
}

/** "JavaScript: The Good Parts": the colon is followed by a space and a word, as in prose. */
function proseAfter(s: string, at: number): boolean {
  if (at >= s.length) return true;
  if (!isSpace(s.charCodeAt(at))) return false;
  let j = at;
  while (j < s.length && j - at < 4 && isSpace(s.charCodeAt(j))) j++;
  if (j >= s.length) return true;
  // A word then a space or the end reads as prose; "alert(1)" or "//" does not.
  let w = j;
  while (w < s.length && isLower(s.charCodeAt(w))) w++;
  return w > j && (w >= s.length || isSpace(s.charCodeAt(w)) || s.charCodeAt(w) === 44);
}

function checkData(s: string, at: number, out: Finding[]): void {
  let j = at;
  while (j < s.length && j - at < 8 && isSpace(s.charCodeAt(j))) j++;
  for (const t of DATA_SCRIPT_TYPES)
    if (s.startsWith(t, j)) {
      emit(out, XSS.scriptUrl);
      return;
    }
  if (s.startsWith('image/svg', j)) {
    emit(out, XSS.dataSvg);
    return;
  }
  if (s.charCodeAt(j) !== 44) return;
  // "data:,alert(1)" (a script src) or "data:,<x>" (a document).
  j++;
  while (j < s.length && j - at < 16 && isSpace(s.charCodeAt(j))) j++;
  if (s.charCodeAt(j) === 60) emit(out, XSS.scriptUrl);
  else if (callAt(s, j)) emit(out, XSS.scriptUrl);
}

/** An identifier (possibly dotted) directly followed by "(" at j. */
function callAt(s: string, j: number): boolean {
  let k = j;
  while (k < s.length && k - j < 40 && (isIdent(s.charCodeAt(k)) || s.charCodeAt(k) === 46)) k++;
  return k > j && s.charCodeAt(k) === 40;
}

// ---------------------------------------------------------------------------------------------
// CSS: expression(), -moz-binding, behavior, url(javascript…).

function scanCss(s: string, out: Finding[]): void {
  for (let i = s.indexOf('url('); i !== -1; i = s.indexOf('url(', i + 4)) {
    let j = i + 4;
    while (j < s.length && j - i < 12 && (isSpace(s.charCodeAt(j)) || isQuote(s.charCodeAt(j)))) j++;
    for (const scheme of SCRIPT_SCHEMES) if (s.startsWith(scheme, j)) emit(out, XSS.cssScript);
  }
  for (let i = s.indexOf('expression'); i !== -1; i = s.indexOf('expression', i + 10)) {
    let a = i + 10;
    while (a < s.length && a - i < 16 && isSpace(s.charCodeAt(a))) a++;
    if (s.charCodeAt(a) !== 40) continue;
    let b = i - 1;
    while (b >= 0 && i - b < 8 && isSpace(s.charCodeAt(b))) b--;
    if (b >= 0 && s.charCodeAt(b) === 58) emit(out, XSS.cssScript);
  }
  for (const prop of ['-moz-binding', 'behavior', 'behaviour']) {
    for (let i = s.indexOf(prop); i !== -1; i = s.indexOf(prop, i + prop.length)) {
      let a = i + prop.length;
      while (a < s.length && a - i < 24 && isSpace(s.charCodeAt(a))) a++;
      if (s.charCodeAt(a) !== 58) continue;
      a++;
      while (a < s.length && a - i < 32 && isSpace(s.charCodeAt(a))) a++;
      if (s.startsWith('url', a)) emit(out, XSS.cssScript);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Script sinks called: "alert(1)", "eval /**/ (x)", "alert`1`".

/** Functions an XSS payload calls to prove or deliver itself; never called in plain text. */
const SINKS = words(`
  alert prompt confirm eval atob btoa fromcharcode execscript globaleval msgbox
`);
const TIMERS = words('settimeout setinterval setimmediate');
/** Names before a backtick that make a tagged template call ("alert`1`", "[].sort.call`${x}`"). */
const TAGGABLE = words(`
  alert prompt confirm eval atob fromcharcode execscript call apply function settimeout setinterval
`);

/** Start of the identifier that ends right before index end (exclusive); end if there is none. */
function identStart(s: string, end: number): number {
  let k = end - 1;
  while (k >= 0 && end - k <= 32 && isIdent(s.charCodeAt(k))) k--;
  return k + 1;
}

/** Start of "/*" for the comment whose "*\/" ends at index end, looking back a bounded way; -1 if none. */
function commentStart(s: string, end: number): number {
  for (let k = end - 3; k >= 0 && end - k <= 64; k--)
    if (s.charCodeAt(k) === 47 && s.charCodeAt(k + 1) === 42) return k;
  return -1;
}

function scanCalls(s: string, out: Finding[]): void {
  for (let i = s.indexOf('('); i !== -1; i = s.indexOf('(', i + 1)) {
    let k = i - 1;
    let gap: 'none' | 'space' | 'comment' = 'none';
    while (k >= 0 && i - k <= 64) {
      const c = s.charCodeAt(k);
      if (isSpace(c)) {
        if (gap === 'none') gap = 'space';
        k--;
      } else if (c === 47 && s.charCodeAt(k - 1) === 42) {
        const open = commentStart(s, k);
        if (open === -1) break;
        gap = 'comment';
        k = open - 1;
      } else break;
    }
    // "alert?.(1)": an optional call (written tight; prose puts a space before a parenthesis).
    if (k === i - 1 && s.charCodeAt(k) === 46 && s.charCodeAt(k - 1) === 63) k -= 2;
    else if (s.charCodeAt(k) === 41) {
      if (k !== i - 1) continue;
      // "(alert)(1)", "(0, eval)(x)": a parenthesized sink called.
      if (DIRECT_SINKS.has(parenthesizedName(s, k))) emit(out, XSS.jsSink);
      continue;
    }
    if (sinkAsCallback(s, i)) emit(out, XSS.jsSink);
    const start = identStart(s, k + 1);
    const n = k + 1 - start;
    if (n < 4 || n > 24 || (start > 0 && isIdent(s.charCodeAt(start - 1)))) continue;
    classifyCall(s, s.slice(start, k + 1), start, i, gap, out);
  }
}

/** The sinks that prove a payload by being called at all, however they are reached. */
const DIRECT_SINKS = words('alert prompt confirm eval');

/**
 * The name inside the parentheses that close at index close ("(alert)", "(0,eval)"), or ''. The
 * name must directly follow "(" or a "," of a comma expression.
 */
function parenthesizedName(s: string, close: number): string {
  let k = close - 1;
  while (k >= 0 && close - k <= 8 && isSpace(s.charCodeAt(k))) k--;
  const end = k + 1;
  const start = identStart(s, end);
  if (end - start < 4) return '';
  let b = start - 1;
  while (b >= 0 && start - b <= 8 && isSpace(s.charCodeAt(b))) b--;
  const c = s.charCodeAt(b);
  return c === 40 || c === 44 ? s.slice(start, end) : '';
}

/** "[1].find(alert)", "x.map(eval)": a sink handed to a method as its callback. */
function sinkAsCallback(s: string, open: number): boolean {
  if (!isIdent(s.charCodeAt(open - 1))) return false;
  const m = identStart(s, open);
  // A method name ("find", "then", "map"), not an abbreviation ("e.g.(alert)").
  if (open - m < 3 || s.charCodeAt(m - 1) !== 46) return false;
  let j = open + 1;
  while (j < s.length && j - open <= 8 && isSpace(s.charCodeAt(j))) j++;
  const from = j;
  while (j < s.length && j - from <= 8 && isLower(s.charCodeAt(j))) j++;
  if (!DIRECT_SINKS.has(s.slice(from, j))) return false;
  while (j < s.length && j - from <= 16 && isSpace(s.charCodeAt(j))) j++;
  return s.charCodeAt(j) === 41;
}

function classifyCall(
  s: string,
  name: string,
  start: number,
  paren: number,
  gap: 'none' | 'space' | 'comment',
  out: Finding[],
): void {
  if (SINKS.has(name) || SINKS.has(withoutLeadingDigits(name))) {
    // A digit before the name does not make a longer identifier ("3⁄4alert(" once a "¾" that
    // meant "<" to a 7-bit reader is normalized). "word(s)" is English for a plural, not a call.
    if (s.startsWith('s)', paren + 1)) return;
    emit(out, gap === 'space' ? XSS.jsSinkSpaced : XSS.jsSink);
    return;
  }
  const arg = firstArg(s, paren + 1);
  if (name === 'import') {
    // import("//host/x.js"): a module loaded from another origin (or a data: URL) and run.
    if (arg === 'string' && remoteSpecifier(s, paren + 1)) emit(out, XSS.remoteImport);
    return;
  }
  if (TIMERS.has(name)) {
    // setTimeout("code") runs a string, and so does setTimeout(name) with window.name; a
    // function (tick, () => …, function …) is ordinary code.
    if (arg === 'string' || TIMER_STRINGS.has(identAt(s, paren + 1))) emit(out, XSS.jsSink);
    return;
  }
  if (name === 'function') {
    if (wordBefore(s, start) === 'new' || arg === 'string') emit(out, XSS.jsSink);
    return;
  }
  if (name === 'constructor') {
    if (
      arg === 'string' ||
      (start > 0 && s.charCodeAt(start - 1) === 46 && s.endsWith('constructor', start - 1))
    )
      emit(out, XSS.jsSink);
  }
}

const REMOTE_PREFIXES = ['//', 'http:', 'https:', 'data:', 'blob:', '\\\\'];

/** The string that opens at the first non-space from at starts with a scheme or "//". */
function remoteSpecifier(s: string, at: number): boolean {
  let j = at;
  while (j < s.length && j - at < 8 && isSpace(s.charCodeAt(j))) j++;
  j++; // the quote
  for (const p of REMOTE_PREFIXES) if (s.startsWith(p, j)) return true;
  return false;
}

function withoutLeadingDigits(name: string): string {
  let i = 0;
  while (i < name.length && isDigit(name.charCodeAt(i))) i++;
  return i === 0 ? name : name.slice(i);
}

/** Globals that hold attacker-controlled strings, passed to a timer to run them. */
const TIMER_STRINGS = words(`
  name location atob decodeuri decodeuricomponent unescape document window self top parent opener
`);

/** The identifier at the first non-space position from at ('' if none). */
function identAt(s: string, at: number): string {
  let j = at;
  while (j < s.length && j - at < 8 && isSpace(s.charCodeAt(j))) j++;
  const from = j;
  while (j < s.length && j - from < 24 && isIdent(s.charCodeAt(j))) j++;
  return s.slice(from, j);
}

function firstArg(s: string, at: number): 'string' | 'ident' | 'other' {
  let j = at;
  while (j < s.length && j - at < 8 && isSpace(s.charCodeAt(j))) j++;
  const c = s.charCodeAt(j);
  if (isQuote(c)) return 'string';
  if (isLower(c) || c === 95 || c === 36) return s.startsWith('function', j) ? 'other' : 'ident';
  return 'other';
}

function wordBefore(s: string, start: number): string {
  let k = start - 1;
  while (k >= 0 && start - k <= 8 && isSpace(s.charCodeAt(k))) k--;
  return s.slice(identStart(s, k + 1), k + 1);
}

/** The first non-space character before index at (-1 at the start). */
function charBefore(s: string, at: number): number {
  let k = at - 1;
  while (k >= 0 && at - k <= 8 && isSpace(s.charCodeAt(k))) k--;
  return k >= 0 ? s.charCodeAt(k) : -1;
}

function scanBackticks(s: string, out: Finding[]): void {
  let count = 0;
  for (let i = s.indexOf('`'); i !== -1; i = s.indexOf('`', i + 1)) {
    count++;
    // An odd-numbered backtick opens a span: in Markdown an inline code span, in JS a template.
    // Only an opening one right after a sink name is a tagged template call.
    if (count % 2 === 0) continue;
    let k = i;
    while (k > 0 && i - k < 8 && isSpace(s.charCodeAt(k - 1))) k--;
    const start = identStart(s, k);
    if (k - start < 4 || !TAGGABLE.has(s.slice(start, k))) continue;
    // "alert`1`" directly; with spaces only as a method ("[] . sort . call `…`"), as prose
    // ("then call `fetch`") has no dot before the word.
    if (k === i || charBefore(s, start) === 46) emit(out, XSS.taggedTemplate);
  }
}

// ---------------------------------------------------------------------------------------------
// DOM and global objects: "document.cookie", "(document)['cookie']", "self['alert']".

const GLOBALS = words('window self top parent frames globalthis opener content');
const DOCUMENT_PROPS = words(`
  cookie domain write writeln location url documenturi baseuri body head createelement queryselector
  queryselectorall getelementbyid getelementsbytagname getelementsbyname forms images referrer
  documentelement execcommand defaultview
`);
const GLOBAL_PROPS = words(`
  location document eval execscript alert prompt confirm settimeout setinterval atob fromcharcode
  constructor
`);

function scanMembers(s: string, m: number, inPath: boolean, out: Finding[]): void {
  if (m & MEMBER) for (let i = s.indexOf('.'); i !== -1; i = s.indexOf('.', i + 1)) member(s, i, inPath, out);
  if (m & BRACKET)
    for (let i = s.indexOf('['); i !== -1; i = s.indexOf('[', i + 1)) member(s, i, inPath, out);
}

function member(s: string, at: number, inPath: boolean, out: Finding[]): void {
  let k = at - 1;
  while (k >= 0 && at - k <= 8 && isSpace(s.charCodeAt(k))) k--;
  if (s.charCodeAt(k) === 41) {
    k--;
    while (k >= 0 && at - k <= 16 && isSpace(s.charCodeAt(k))) k--;
  }
  // Every global name ends in one of t w f p s r and has 3 to 10 letters: most dots (e-mails,
  // URLs, numbers) are ruled out before anything is sliced.
  const last = s.charCodeAt(k);
  if (last !== 116 && last !== 119 && last !== 102 && last !== 112 && last !== 115 && last !== 114) return;
  const start = identStart(s, k + 1);
  const n = k + 1 - start;
  if (n < 3 || n > 10 || (start > 0 && isIdent(s.charCodeAt(start - 1)))) return;
  const obj = s.slice(start, k + 1);
  const isDocument = obj === 'document';
  if (!isDocument && !GLOBALS.has(obj)) return;
  const bracket = s.charCodeAt(at) === 91;
  const prop = propertyAfter(s, at + 1, bracket);
  if (prop === undefined) return;
  if (bracket && !isDocument) {
    // window["…"] / self['…']: string-keyed access to the global object is script, not text.
    emit(out, XSS.domAccess);
    return;
  }
  const hit = isDocument ? DOCUMENT_PROPS.has(prop) : GLOBAL_PROPS.has(prop);
  if (hit) emit(out, inPath ? XSS.domAccessPath : XSS.domAccess);
}

/** The property after "." or inside "[ '…' ]", skipping spaces; undefined if none. */
function propertyAfter(s: string, at: number, bracket: boolean): string | undefined {
  let j = at;
  while (j < s.length && j - at < 8 && isSpace(s.charCodeAt(j))) j++;
  if (bracket) {
    const q = s.charCodeAt(j);
    if (!isQuote(q)) return undefined;
    const end = s.indexOf(s[j] as string, j + 1);
    if (end === -1 || end - j > 40) return undefined;
    return s.slice(j + 1, end);
  }
  const from = j;
  while (j < s.length && j - from < 32 && isIdent(s.charCodeAt(j))) j++;
  return j > from ? s.slice(from, j) : undefined;
}

// ---------------------------------------------------------------------------------------------
// Encodings and odd shapes.

/** JSFuck: script written with only []()!+. */
function checkJsfuck(s: string, out: Finding[]): void {
  if (s.indexOf('[]') === -1) return;
  let fuck = 0;
  let other = 0;
  let atoms = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 91 || c === 93 || c === 40 || c === 41 || c === 33 || c === 43) {
      fuck++;
      if ((c === 33 || c === 43) && s.charCodeAt(i + 1) === 91 && s.charCodeAt(i + 2) === 93) atoms++;
    } else if (!isSpace(c)) other++;
  }
  if (atoms >= 4 || (atoms >= 1 && fuck >= 4 && other * 10 <= fuck)) emit(out, XSS.jsfuck);
}

/** UTF-7 "+ADw-" is "<" to a browser that sniffs the charset. */
function checkUtf7(s: string, out: Finding[]): void {
  const i = s.indexOf('+adw-');
  if (i === -1) return;
  const c = s.charCodeAt(i + 5);
  if (isLower(c) || c === 47 || c === 33) emit(out, XSS.utf7);
}

/** "-->" that closes an HTML comment the value was reflected into (not an arrow in prose). */
function checkCommentClose(s: string, out: Finding[]): void {
  for (let i = s.indexOf('-->'); i !== -1; i = s.indexOf('-->', i + 3)) {
    let k = i - 1;
    while (k >= 0 && i - k <= 4 && isSpace(s.charCodeAt(k))) k--;
    const before = k >= 0 ? s.charCodeAt(k) : -1;
    if (before === -1 || isQuote(before) || s.charCodeAt(i + 3) === 60) {
      if (before === 45) continue; // "--->" arrows
      emit(out, XSS.commentBreakout);
      return;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// A JavaScript string closed, then the "in" operator and an assignment: "'  in foo.bar=" or
// "\" in \u0076alueOf=". The value ends the string it was reflected into, and what follows is an
// expression that assigns to a member (or to a name spelled with escapes only obfuscation uses).

function isHex(c: number): boolean {
  return isDigit(c) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70);
}

const QUOTE_ENTITIES = ['&quot', '&apos', '&#34', '&#39', '&#x22', '&#x27'];

/** A quote written as an entity ("&quot;") ends with the ";" at index semi. */
function quoteEntityEndsAt(s: string, semi: number): boolean {
  for (const e of QUOTE_ENTITIES) if (s.startsWith(e, semi - e.length)) return true;
  return false;
}

function scanStringBreakoutIn(s: string, out: Finding[]): void {
  if (s.indexOf('in') === -1) return;
  const len = s.length;
  let n = 0;
  for (let q = 0; q < len && n < 4096; q++) {
    const qc = s.charCodeAt(q);
    if (qc !== 34 && qc !== 39 && (qc !== 59 || !quoteEntityEndsAt(s, q))) continue;
    n++;
    let j = q + 1;
    while (j < len && j - q <= 8 && isSpace(s.charCodeAt(j))) j++;
    const before = j - q - 1;
    if (s.charCodeAt(j) !== 105 || s.charCodeAt(j + 1) !== 110) continue; // "in"
    let k = j + 2;
    while (k < len && k - j <= 10 && isSpace(s.charCodeAt(k))) k++;
    // Spaced from the quote or from the chain: "'in" glued to a word is prose ("'info.x=").
    if (before === 0 && k === j + 2) continue;
    // The assigned target: identifier characters, dots and "\uXXXX" escapes.
    const from = k;
    let dots = 0;
    let escapes = 0;
    while (k < len && k - from <= 64) {
      const c = s.charCodeAt(k);
      if (isIdent(c)) k++;
      else if (c === 46 && k > from && isIdent(s.charCodeAt(k - 1))) {
        dots++;
        k++;
      } else if (
        c === 92 &&
        s.charCodeAt(k + 1) === 117 &&
        isHex(s.charCodeAt(k + 2)) &&
        isHex(s.charCodeAt(k + 3)) &&
        isHex(s.charCodeAt(k + 4)) &&
        isHex(s.charCodeAt(k + 5))
      ) {
        escapes++;
        k += 6;
      } else break;
    }
    if (k === from || (dots === 0 && escapes === 0) || s.charCodeAt(k - 1) === 46) continue;
    if (isDigit(s.charCodeAt(from))) continue;
    while (k < len && k - from <= 72 && isSpace(s.charCodeAt(k))) k++;
    if (s.charCodeAt(k) === 61 && s.charCodeAt(k + 1) !== 61) {
      emit(out, XSS.stringBreakoutIn);
      return;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Markup in parameter names.

/** Name locations no form or client fills with markup (JSON keys may be user-chosen map keys). */
function nameLocation(input: Input): boolean {
  const l = input.location;
  return l === 'query-name' || l === 'body-name' || l === 'cookie-name' || l === 'multipart-name';
}

/**
 * "<a href=" in a parameter name: a tag with an attribute. Forms and clients name their fields with
 * identifiers; servers echo unknown names back in error pages, so markup there is an injection.
 */
function scanNameMarkup(s: string, out: Finding[]): void {
  const len = s.length;
  for (let i = s.indexOf('<'); i !== -1; i = s.indexOf('<', i + 1)) {
    let j = i + 1;
    if (!isLower(s.charCodeAt(j))) continue;
    while (j < len && j - i <= 24 && isNameChar(s.charCodeAt(j))) j++;
    if (!isSpace(s.charCodeAt(j)) && s.charCodeAt(j) !== 47) continue;
    while (j < len && j - i <= 40 && (isSpace(s.charCodeAt(j)) || s.charCodeAt(j) === 47)) j++;
    const a = j;
    while (j < len && j - a <= 32 && isNameChar(s.charCodeAt(j))) j++;
    if (j === a) continue;
    while (j < len && j - a <= 40 && isSpace(s.charCodeAt(j))) j++;
    if (s.charCodeAt(j) === 61) {
      emit(out, XSS.nameMarkup);
      return;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Tags with the high bit set ("\xbcscript\xbe"): a server or browser reading the page as 7-bit
// US-ASCII drops that bit, so "¼" becomes "<", "¾" ">" and "¢" '"'.

const HIGH_BIT = /[\u00bc\u00be\u00a2]/g;
const HIGH_BIT_ASCII: Record<string, string> = { '\u00bc': '<', '\u00be': '>', '\u00a2': '"' };

// NFKC (one of the engine's variants) spells "¼" and "¾" as "1⁄4" and "3⁄4"; fold them back.
const NFKC_QUARTER = '1\u20444';
const NFKC_THREE_QUARTERS = '3\u20444';

function checkHighBitTags(value: string, out: Finding[]): void {
  const s = value.includes(NFKC_QUARTER)
    ? value.replaceAll(NFKC_QUARTER, '\u00bc').replaceAll(NFKC_THREE_QUARTERS, '\u00be')
    : value;
  if (s.indexOf('\u00be') === -1) return; // no tag ever closes
  if (pairedHighBitTag(s)) {
    emit(out, XSS.highBitTag);
    return;
  }
  // The mapped text read as markup: only what would block on its own counts.
  const found: Finding[] = [];
  scanTags(
    s.replace(HIGH_BIT, (c) => HIGH_BIT_ASCII[c] ?? c),
    NOT_XML,
    found,
  );
  if (found.some((f) => f.score >= 5)) emit(out, XSS.highBitTag);
}

/** "¼name…¾ … ¼/name¾": an element opened and closed (recipes write "¼ cup", never "¼/cup¾"). */
function pairedHighBitTag(s: string): boolean {
  let from = 0;
  for (let n = 0; n < 8; n++) {
    const at = s.indexOf('\u00bc/', from);
    if (at === -1) return false;
    from = at + 2;
    let j = at + 2;
    if (!isLower(s.charCodeAt(j))) continue;
    while (j < s.length && j - at < 18 && (isLower(s.charCodeAt(j)) || isDigit(s.charCodeAt(j)))) j++;
    if (s.charCodeAt(j) !== 0xbe) continue;
    const open = s.lastIndexOf(`\u00bc${s.slice(at + 2, j)}`, at - 1);
    if (open === -1) continue;
    const after = s.charCodeAt(open + j - at - 1);
    if (after === 0xbe || isSpace(after) || after === 47) return true;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------

export const xssDetector: Detector = {
  family: 'xss',
  detect(value: string, input: Input, out: Finding[]): void {
    const m = triggers(value);
    // High-bit tags need none of the ASCII triggers ("¼div¾…¼/div¾").
    const highBit = value.indexOf('\u00bc') !== -1 || value.indexOf(NFKC_QUARTER) !== -1;
    if ((m & ~UPPER) === 0 && !highBit) return;
    const s = m & UPPER ? value.toLowerCase() : value;
    if (highBit) checkHighBitTags(s, out);
    const xml = xmlContext(value, input);
    if (m & LT) scanTags(s, xml, out);
    if (m & EQ) {
      scanAttributes(s, xml, out);
      scanStringBreakoutIn(s, out);
      if (m & LT && nameLocation(input)) scanNameMarkup(s, out);
    }
    if (m & COLON) scanSchemes(s, out);
    if (m & PAREN) {
      scanCalls(s, out);
      scanCss(s, out);
    }
    if (m & TICK) scanBackticks(s, out);
    if (m & (MEMBER | BRACKET)) scanMembers(s, m, input.location === 'path', out);
    if (m & BRACKET && m & BANG) checkJsfuck(s, out);
    if (m & DASH) {
      checkUtf7(s, out);
      checkCommentClose(s, out);
    }
  },
};
