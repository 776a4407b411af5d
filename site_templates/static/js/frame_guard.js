// The portal refuses to run inside a frame. A page that frames it could lay its own
// elements over the login form and catch clicks or keystrokes (clickjacking). The header
// that forbids framing (CSP frame-ancestors) cannot be set from a <meta> tag, and a plain
// S3 bucket sets no headers of its own (docs/PUBLISHING.md gives the CDN policy to add), so
// the page checks for itself. Every entry module imports this one first: when it throws,
// no other module of the page runs.
let framed;
try {
  framed = window.top !== window.self;
} catch {
  framed = true; // a browser that will not even compare: assume the worst
}
if (framed) {
  const p = document.createElement('p');
  p.className = 'msg err';
  p.textContent = 'This page does not open inside another page. Open it in its own tab. '
    + '\u2067لا تُفتح هذه الصفحة داخل صفحة أخرى. افتحها في علامة تبويب مستقلة.\u2069';
  document.title = 'chartseal';
  document.body.replaceChildren(p);
  document.body.dataset.state = 'framed';
  throw new Error('chartseal: the portal does not run inside a frame');
}
