#!/usr/bin/env python3
"""Browser test of the built book: headless Chromium, network off, assertions from the DOM.

Serves ``book/_build/html`` on a localhost HTTP server and loads the landing page, the
reproduction report and every notebook page in Debian's ``chromium`` (driven by selenium and
``chromedriver``). Any request to a host other than localhost is routed to a dead proxy (so it
fails) *and* recorded from the DevTools network log; the test fails if there is one.

Asserted after the page's scripts ran:

* math: MathJax output elements (``mjx-container``) present and no raw ``\\(`` / ``\\[`` left in the
  text (outside code), on every page that has math;
* widgets: at least one ipywidgets view rendered on every page that embeds widget state;
* animations: the ``to_jshtml`` play controls are present where an animation is embedded;
* static controls: pressing a key on a frame slider and choosing another entry of a setting selector
  change the displayed image (its ``src`` before vs after);
* no failed request (an external host, an HTTP error, or a blocked load).

Screenshots of the landing page, the report and one page per paper go to
``book/_build/screenshots/`` with ``browser_test.json`` (the per-page results).

Usage::

    python scripts/browser_test.py [--html book/_build/html] [--out book/_build/screenshots] [--all-pages]

Needs ``chromium``, ``chromium-driver`` (apt) and ``selenium`` (pip). Exit status 1 on failure.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import shutil
import socketserver
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
LOCAL_HOSTS = {"localhost", "127.0.0.1", "[::1]", "::1"}

CHROME_FLAGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-extensions", "--disable-dev-shm-usage",
    "--hide-scrollbars", "--window-size=1280,1000", "--force-device-scale-factor=1",
    # network off: every non-loopback request goes to a closed local port and fails
    "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=localhost;127.0.0.1;[::1]",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost , EXCLUDE 127.0.0.1",
]


def find_binary(*names):
    for n in names:
        p = shutil.which(n)
        if p:
            return p
    return None


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # noqa: D401 - silence the access log
        pass


class _QuietServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True

    def handle_error(self, request, client_address):
        # The browser closes connections it no longer needs (page changes): not an error.
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


def serve(directory: Path):
    """Start a threaded localhost HTTP server over ``directory``; returns (server, base_url)."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    httpd = _QuietServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}/"


def make_driver(user_data_dir: str):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    chrome = find_binary("chromium", "chromium-browser", "google-chrome")
    if chrome:
        opts.binary_location = chrome
    for f in CHROME_FLAGS:
        opts.add_argument(f)
    opts.add_argument(f"--user-data-dir={user_data_dir}")
    opts.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver_bin = find_binary("chromedriver")
    service = Service(driver_bin) if driver_bin else Service()
    drv = webdriver.Chrome(service=service, options=opts)
    drv.set_page_load_timeout(60)
    drv.set_script_timeout(60)
    drv.execute_cdp_cmd("Network.enable", {})
    return drv


def network_events(drv):
    """(requested URLs, failures) since the last call, from the DevTools performance log."""
    urls, failures, by_id = [], [], {}
    for entry in drv.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        m, p = msg.get("method"), msg.get("params", {})
        if m == "Network.requestWillBeSent":
            url = p["request"]["url"]
            by_id[p["requestId"]] = url
            urls.append(url)
        elif m == "Network.responseReceived":
            st = p["response"].get("status", 0)
            if st >= 400 and not p["response"].get("url", "").endswith("/favicon.ico"):
                failures.append(f"HTTP {st}: {p['response'].get('url')}")
        elif m == "Network.loadingFailed" and not by_id.get(p.get("requestId"), "").endswith("/favicon.ico"):
            failures.append(f"{p.get('errorText')}: {by_id.get(p.get('requestId'), '?')}")
    return urls, failures


def is_external(url: str) -> bool:
    u = urlparse(url)
    if u.scheme in ("data", "blob", "about", "chrome", "devtools", ""):
        return False
    return (u.hostname or "") not in {h.strip("[]") for h in LOCAL_HOSTS}


JS_WAIT_MATHJAX = """
const done = arguments[arguments.length - 1];
const t0 = Date.now();
(function poll() {
  const MJ = window.MathJax;
  if (MJ && MJ.startup && MJ.startup.promise) { MJ.startup.promise.then(() => done(true), () => done(false)); return; }
  if (Date.now() - t0 > 15000) { done(null); return; }
  setTimeout(poll, 100);
})();
"""

JS_STATE = r"""
const clone = document.querySelector('main') ? document.querySelector('main').cloneNode(true) : document.body.cloneNode(true);
clone.querySelectorAll('pre, code, script, style, textarea, .highlight, mjx-container, .output_subarea pre').forEach(e => e.remove());
const text = clone.textContent;
const visImgs = Array.from(document.querySelectorAll('img.widget-image')).filter(e => e.offsetParent !== null);
return {
  title: document.title,
  mathjax: document.querySelectorAll('mjx-container').length,
  math_sources: document.querySelectorAll('.math, span.math, div.math').length,
  raw_inline: (text.match(/\\\(/g) || []).length,
  raw_display: (text.match(/\\\[/g) || []).length,
  widget_state: document.querySelectorAll('script[type="application/vnd.jupyter.widget-state+json"]').length,
  widget_view_scripts: document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]').length,
  widget_views: document.querySelectorAll('.jupyter-widgets, .widget-box, .widget-image').length,
  widget_images_visible: visImgs.length,
  animations: document.querySelectorAll('.animation').length,
  anim_controls: document.querySelectorAll('.animation .anim-buttons button, .animation input.anim-slider, .animation input[type=range]').length,
  sliders: document.querySelectorAll('.wgf-frame-slider .noUi-handle').length,
  dropdowns: document.querySelectorAll('.wgf-figure-selector .widget-dropdown select').length,
};
"""

# The image shown by the Stack of a static control (wgf_core.widgets adds the box classes
# wgf-frame-slider / wgf-figure-selector); the first visible .widget-image inside that box.
JS_SHOWN_IMAGE_AFTER = r"""
const ctrl = arguments[0];
const box = ctrl.closest('.wgf-frame-slider, .wgf-figure-selector');
if (!box) return null;
const vis = Array.from(box.querySelectorAll('img.widget-image')).filter(e => e.offsetParent !== null);
return vis.length ? vis[0].src : null;
"""

SLIDER_CSS = ".wgf-frame-slider .widget-slider .noUi-handle, .wgf-frame-slider .widget-hslider .noUi-handle"
SELECT_CSS = ".wgf-figure-selector .widget-dropdown select"


def wait_changed(drv, js, before, *args, timeout=5.0):
    """Poll ``js`` (with ``args``) until it returns something other than ``before``; returns the last value."""
    t0 = time.time()
    val = drv.execute_script(js, *args)
    while val == before and time.time() - t0 < timeout:
        time.sleep(0.1)
        val = drv.execute_script(js, *args)
    return val


def wait_for(drv, js, timeout=20.0, interval=0.25):
    t0 = time.time()
    while time.time() - t0 < timeout:
        v = drv.execute_script(js)
        if v:
            return v
        time.sleep(interval)
    return drv.execute_script(js)


def check_page(drv, url: str, interact: bool = True) -> dict:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    drv.get(url)
    res = {"url": url, "errors": []}
    res["mathjax_ready"] = drv.execute_async_script(JS_WAIT_MATHJAX)
    src = drv.page_source
    has_widgets = 'application/vnd.jupyter.widget-state+json' in src
    if has_widgets:  # let the widget manager render the views
        wait_for(drv, "return document.querySelectorAll('.widget-box, .widget-image, .jupyter-widgets').length > 0",
                 timeout=30)
        time.sleep(0.5)
    st = drv.execute_script(JS_STATE)
    res.update(st)
    if st["math_sources"] and not st["mathjax"]:
        res["errors"].append("math present but no MathJax output (mjx-container)")
    if st["raw_inline"] or st["raw_display"]:
        res["errors"].append(f"raw TeX delimiters left: {st['raw_inline']} \\( and {st['raw_display']} \\[")
    if st["widget_view_scripts"] and not st["widget_views"]:
        res["errors"].append("widget state embedded but no widget view rendered")
    if st["animations"] and not st["anim_controls"]:
        res["errors"].append("animation without play controls")

    if interact and st["sliders"]:
        handle = drv.find_elements(By.CSS_SELECTOR, SLIDER_CSS)[0]
        drv.execute_script("arguments[0].scrollIntoView({block: 'center'});", handle)
        before = drv.execute_script(JS_SHOWN_IMAGE_AFTER, handle)
        handle.click()
        handle.send_keys(Keys.ARROW_RIGHT)
        after = wait_changed(drv, JS_SHOWN_IMAGE_AFTER, before, handle)
        res["slider_changed_image"] = bool(before and after and before != after)
        if not res["slider_changed_image"]:
            res["errors"].append("moving the frame slider did not change the shown image")
    if interact and st["dropdowns"]:
        sel_el = drv.find_elements(By.CSS_SELECTOR, SELECT_CSS)[0]
        drv.execute_script("arguments[0].scrollIntoView({block: 'center'});", sel_el)
        before = drv.execute_script(JS_SHOWN_IMAGE_AFTER, sel_el)
        sel = Select(sel_el)
        if len(sel.options) > 1:
            sel.select_by_index(1)
            after = wait_changed(drv, JS_SHOWN_IMAGE_AFTER, before, sel_el)
            res["selector_changed_image"] = bool(before and after and before != after)
            if not res["selector_changed_image"]:
                res["errors"].append("choosing another setting did not change the shown image")
    if interact and st["anim_controls"]:  # the to_jshtml scrub slider shows another frame
        before = drv.execute_script("const i = document.querySelector('.animation img'); return i && i.src;")
        drv.execute_script("""
            const r = document.querySelector('.animation input[type=range]');
            r.value = String(Math.min(parseInt(r.max), parseInt(r.value) + Math.max(1, Math.floor(r.max / 2))));
            r.dispatchEvent(new Event('input', {bubbles: true}));""")
        after = wait_changed(drv, "const i = document.querySelector('.animation img'); return i && i.src;", before)
        res["animation_scrub_changed_image"] = bool(before and after and before != after)
        if not res["animation_scrub_changed_image"]:
            res["errors"].append("scrubbing the animation did not change the shown frame")
    urls, failures = network_events(drv)
    res["requests"] = len(urls)
    res["external_requests"] = sorted({u for u in urls if is_external(u)})
    res["failed_requests"] = failures
    if res["external_requests"]:
        res["errors"].append(f"requests to external hosts: {res['external_requests'][:5]}")
    if failures:
        res["errors"].append(f"failed requests: {failures[:5]}")
    console = [e["message"] for e in drv.get_log("browser") if e.get("level") == "SEVERE"]
    res["console_errors"] = console[:10]
    return res


def screenshot(drv, path: Path, scroll_to_css: str = None) -> None:
    from selenium.webdriver.common.by import By

    if scroll_to_css:
        els = drv.find_elements(By.CSS_SELECTOR, scroll_to_css)
        if els:
            drv.execute_script("arguments[0].scrollIntoView({block: 'start'}); window.scrollBy(0, -70);", els[0])
            time.sleep(0.3)
    else:
        drv.execute_script("window.scrollTo(0, 0);")
    path.parent.mkdir(parents=True, exist_ok=True)
    drv.save_screenshot(str(path))


def pages_to_check(html: Path, all_pages: bool) -> list[tuple[str, str]]:
    """(label, relative path): landing, report, then notebook pages (all, or one per paper)."""
    pages = [("landing", "intro.html" if (html / "intro.html").exists() else "index.html")]
    if (html / "report.html").exists():
        pages.append(("report", "report.html"))
    nb_root = html / "notebooks"
    for paper_dir in sorted(p for p in nb_root.glob("*") if p.is_dir()) if nb_root.exists() else []:
        files = sorted(paper_dir.glob("*.html"))
        for f in files if all_pages else files[:1]:
            pages.append((f"{paper_dir.name}__{f.stem}", str(f.relative_to(html))))
    return pages


def run(html: Path, out: Path, all_pages: bool = True) -> dict:
    if not (html / "index.html").exists():
        raise FileNotFoundError(f"no built book at {html} (run `make book`)")
    httpd, base = serve(html)
    tmp = tempfile.mkdtemp(prefix="wgf-chromium-")
    drv = make_driver(tmp)
    results = {"base": base, "pages": [], "errors": []}
    shot_papers = set()
    try:
        # index.html redirects to the root page: load it once so the redirect is exercised
        drv.get(base + "index.html")
        network_events(drv)
        for label, rel in pages_to_check(html, all_pages):
            r = check_page(drv, base + rel)
            r["label"] = label
            paper = label.split("__")[0]
            if label in ("landing", "report") or paper not in shot_papers:
                screenshot(drv, out / f"{label}.png")
                if label == "landing":
                    screenshot(drv, out / "landing__experiments.png", scroll_to_css="#experiments")
                if "__" in label:
                    shot_papers.add(paper)
                    screenshot(drv, out / f"{label}__controls.png",
                               scroll_to_css=".wgf-frame-slider, .wgf-figure-selector, .animation")
            results["pages"].append(r)
            status = "ok" if not r["errors"] else "FAIL: " + "; ".join(r["errors"])
            print(f"{label:45s} math={r['mathjax']:4d} widgets={r['widget_views']:3d} "
                  f"anims={r['animations']} scrub={r.get('animation_scrub_changed_image', '-')} slider={r.get('slider_changed_image', '-')} "
                  f"selector={r.get('selector_changed_image', '-')} requests={r['requests']} {status}")
    finally:
        drv.quit()
        httpd.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)
    pages = results["pages"]
    nb_pages = [p for p in pages if "__" in p["label"]]
    for p in pages:
        results["errors"] += [f"{p['label']}: {e}" for e in p["errors"]]
    if nb_pages:
        if not any(p["mathjax"] for p in pages):
            results["errors"].append("no page has typeset math")
        if not any(p["widget_views"] for p in nb_pages):
            results["errors"].append("no widget view rendered on any notebook page")
        if not any(p["anim_controls"] for p in nb_pages):
            results["errors"].append("no animation controls on any notebook page")
        if not any(p.get("slider_changed_image") or p.get("animation_scrub_changed_image") for p in nb_pages):
            results["errors"].append("no static slider (frame slider or animation) changed its image")
        if not any(p.get("selector_changed_image") for p in nb_pages):
            results["errors"].append("no setting selector changed its image")
    out.mkdir(parents=True, exist_ok=True)
    (out / "browser_test.json").write_text(json.dumps(results, indent=1))
    return results


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Headless-Chromium test of the built book (network off).")
    ap.add_argument("--html", type=Path, default=ROOT / "book" / "_build" / "html")
    ap.add_argument("--out", type=Path, default=None, help="default: <html>/../screenshots")
    ap.add_argument("--one-per-paper", action="store_true", help="check one notebook page per paper only")
    args = ap.parse_args(argv)
    out = args.out or args.html.parent / "screenshots"
    res = run(args.html, out, all_pages=not args.one_per_paper)
    if res["errors"]:
        print("\nBROWSER TEST FAILED:\n  " + "\n  ".join(res["errors"]), file=sys.stderr)
        return 1
    print(f"browser test passed: {len(res['pages'])} pages, screenshots in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
