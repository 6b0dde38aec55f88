"""The explorer's page breaks a long equation for its column as the other views do: the record carries, for each
equation too wide for some room its right side may have, the breakings ``derive.printing.breaks`` makes
(``compile.explore.pages.breaks``), in the live API's answer and the frozen report alike, and the page shows
the one that fits. The page data is checked by hand-measured widths; the page itself in a headless Chromium
(skipped where Playwright or a chromium executable is missing), where no equation of gpt's page may run past
its column, the side panel open or not, and every line KaTeX is given renders (where KaTeX is found)."""
from __future__ import annotations

import html
import json
import re
import shutil
import subprocess

import pytest

from derive.printing.breaks import EQUALS, PLUS
from compile.explore.pages import ROOMS_PX, boot_page, breakings, equation_breaks, frozen_page, with_breaks
from conftest import headless_chromium


def _text(ml: str) -> str:
    """What MathML reads as: its characters without the tags."""
    return html.unescape(re.sub(r"<[^>]*>", "", ml))


def _boot(page: str) -> dict:
    return json.loads(page.split('id="derivax-boot" type="application/json">')[1].split("</script>")[0])


@pytest.fixture(scope="module")
def gpt():
    from derive.network.examples import resolve
    from derive.printing.page import record
    return record(resolve("gpt")[1].derive(), "gpt")


@pytest.fixture(scope="module")
def frozen(gpt):
    """gpt's frozen page (``derivax report``'s, without the verification and the curves)."""
    return frozen_page(gpt)


C1 = r"= \mathrm{onehot}\left(X\right)^{T} \left("   # how gpt's widest gradient, ∂J/∂C₁, starts


# ---- the page's data ---------------------------------------------------------------------------------

def test_an_equation_is_broken_for_each_room_it_does_not_fit_whole():
    # "=" 13.4pt, a b c d 5.2pt each, "+" 12.2pt: 70.8pt, at 16.8 px to 10pt less 10%: 132.2 px
    entry = equation_breaks("y", "a + b + c + d", (200, 100))
    assert entry["px"] == 132.2 and [f["px"] for f in entry["fits"]] == [100]   # 200 px holds it whole
    # 100 px is 53.6pt: "= a + b + c" is 53.4pt, the next line a step in with its sign
    lines = entry["fits"][0]["lines"]
    assert [(_text(l["ml"]), l["more"]) for l in lines] == [("=a+b+c", False), ("+d", True)]
    assert equation_breaks("y", "a + b + c + d", (200, 140)) is None        # fits every room whole
    # a step's line breaks before its "=": that line is not a step in
    need, found = breakings("", "a + b = c + d", (60,))
    assert found == [(60, [(None, "a + b"), (EQUALS, "= c"), (PLUS, "{} + d")])]
    assert equation_breaks("", "a + b = c + d", (60,))["fits"][0]["lines"][1]["more"] is False


def test_the_frozen_page_carries_gpts_breakings_and_keeps_its_lines_whole(gpt, frozen):
    boot = _boot(frozen)
    rec = boot["record"]
    assert rec["sections"] == gpt["sections"] and rec["targets"] == gpt["targets"]   # what the page read before
    breaks = rec["breaks"]
    wide = next(v for k, v in breaks.items() if k.startswith(C1))
    assert wide["px"] > ROOMS_PX[0] and len(wide["fits"]) >= 4
    for key, entry in breaks.items():
        rooms = [f["px"] for f in entry["fits"]]
        assert rooms == sorted(rooms, reverse=True) and rooms[0] < entry["px"] and set(rooms) <= set(ROOMS_PX), key
        for fit in entry["fits"]:   # a breaking keeps every symbol of the whole line, in order
            assert len(fit["lines"]) >= 2 and not fit["lines"][0]["more"]
            assert "".join(_text(l["ml"]) for l in fit["lines"]) == _text(_whole(rec, key)), key
    # every equation the page shows that is wider than the narrowest room has its breakings
    shown = [l for s in rec["sections"] for l in s["lines"]] + rec["step_lines"]
    for line in shown:
        key = ("= " if line["lhs"] else "") + line["rhs"]
        if breakings(line["lhs"], line["rhs"])[1]:
            assert key in breaks, key


def _whole(rec, key):
    for line in [l for s in rec["sections"] for l in s["lines"]] + rec["step_lines"] + [
            l for t in rec["targets"].values() for l in (t.get("forward") or []) + [t.get("adjoint")] if l]:
        if ("= " if line["lhs"] else "") + line["rhs"] == key:
            return line["rhs_ml"]
    raise AssertionError(f"no line {key[:60]}")


def test_the_live_api_answers_with_the_same_breakings():
    from compile.explore import api
    from derive.network.examples import resolve
    from derive.printing.page import record
    out = api.derive_page({"model": "xor"})["record"]
    assert out["breaks"] and out["breaks"] == with_breaks(record(resolve("xor")[1].derive(), "xor"))["breaks"]
    res = api.scalar({"model": "3-1:sigmoid"})   # a small one with long lines
    lines = [l for s in res["sections"] for l in s["lines"]]
    wide = [l for l in lines if breakings(l["lhs"], l["rhs"])[1]]
    assert wide and {("= " if l["lhs"] else "") + l["rhs"] for l in wide} == set(res["breaks"])


# ---- the page in a browser ---------------------------------------------------------------------------

WAIT = 30_000
# Every equation of the sections and of the open panel that runs past its column:
# [where, by how many px].
OVERRUNS = """() => {
  const out = [];
  const check = (col, where) => {
    const edge = col.getBoundingClientRect().right;
    for (const m of col.querySelectorAll('math')) {
      const right = m.getBoundingClientRect().right;
      if (right > edge + 1) out.push([where, Math.round(right - edge)]);
    }
  };
  document.querySelectorAll('#sections .section').forEach((s) => check(s, s.querySelector('h2').textContent));
  if (!document.querySelector('#panel').hidden)
    document.querySelectorAll('#panel-body .eq').forEach((e) => check(e, 'panel'));
  return out;
}"""


@pytest.fixture(scope="module")
def browser():
    yield from headless_chromium()


def _open(browser, path, width=1280):
    pg = browser.new_page(viewport={"width": width, "height": 900})
    errors = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.goto(path.as_uri())
    pg.wait_for_selector("#sections [data-line]", timeout=WAIT)
    return pg, errors


def test_no_equation_of_the_frozen_page_runs_past_its_column(browser, frozen, tmp_path):
    path = tmp_path / "gpt.html"
    path.write_text(frozen, encoding="utf-8")
    pg, errors = _open(browser, path)
    try:
        assert pg.evaluate(OVERRUNS) == []
        assert pg.locator("#sections tr.line.broken").count() >= 1
        # the copy buttons take none of a row's width, and hidden (no hover, focus or selection) take no clicks
        assert pg.evaluate("Math.max(...[...document.querySelectorAll('#sections td.tools')].map((t) => t.offsetWidth))") == 0
        assert pg.evaluate("getComputedStyle(document.querySelector('#sections td.tools')).pointerEvents") == "none"
        # a click still opens a gradient's steps; the panel narrows the column, whose equations break further
        row = '#sections [data-click="P:C1"]'
        lines = pg.locator(f"{row} .brk").count()
        pg.click(f"{row} .brk >> nth=-1")   # on the equation's last line
        pg.wait_for_selector("#panel .step", timeout=WAIT)
        assert pg.text_content("#panel-title") == "∂J/∂C1"
        assert "selected" in pg.get_attribute(row, "class")
        assert pg.locator(f"{row} .brk").count() > lines
        assert pg.evaluate(OVERRUNS) == []
        assert pg.locator("#panel-body .eq.broken").count() >= 1
        assert pg.locator(f"{row} .copy-latex").count() == 1   # the copy buttons copy the whole equation
        pg.locator(f"{row} .copy-latex").click()
        assert pg.locator(f"{row} .copy-latex").get_attribute("data-copied").startswith(
            r"\frac{\partial J}{\partial C^{[1]}} " + C1)
        pg.keyboard.press("Escape")   # the column wide again: the lines join up again
        pg.wait_for_function(f"() => document.querySelectorAll('{row} .brk').length === {lines}", timeout=WAIT)
        assert pg.evaluate(OVERRUNS) == []
        widths = pg.eval_on_selector_all("#sections .brk math", "ms => ms.map((m) => m.getBoundingClientRect().width)")
        assert widths and min(widths) > 0
        assert pg.locator("merror").count() == 0
        assert not errors, errors
    finally:
        pg.close()


def test_a_record_without_breakings_is_shown_whole_and_runs_past_the_column(browser, gpt, tmp_path):
    """The record the page read before it broke equations still renders, each equation whole: at this width
    gpt's widest gradient then runs past the column (what the test above would see without the breakings)."""
    path = tmp_path / "gpt-whole.html"
    path.write_text(boot_page({"mode": "frozen", "record": gpt}, inline=True), encoding="utf-8")
    pg, errors = _open(browser, path, width=1024)
    try:
        assert "Gradients" in [w for w, _ in pg.evaluate(OVERRUNS)]
        assert pg.locator(".brk").count() == 0 and not errors, errors
    finally:
        pg.close()


def _katex() -> str | None:
    """The path of katex.min.js as node resolves it (NODE_PATH included), or None."""
    node = shutil.which("node")
    if node is None:
        return None
    done = subprocess.run([node, "-p", "require.resolve('katex/dist/katex.min.js')"], capture_output=True, text=True,
                          timeout=30)
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else None


def test_katex_renders_every_line_of_every_breaking(browser, gpt, tmp_path):
    katex = _katex()
    if katex is None:
        pytest.skip("no KaTeX that node can find (npm install katex, or set NODE_PATH)")
    lines = set()
    rec = with_breaks(gpt)
    for line in [l for s in rec["sections"] for l in s["lines"]] + rec["step_lines"]:
        for _, pieces in breakings(line["lhs"], line["rhs"])[1]:
            lines.update(("= " if line["lhs"] and k == 0 else "") + p for k, (_, p) in enumerate(pieces))
    assert len(lines) > 100
    path = tmp_path / "blank.html"
    path.write_text("<!DOCTYPE html><html><body></body></html>", encoding="utf-8")
    pg = browser.new_page()
    try:
        pg.goto(path.as_uri())
        pg.add_script_tag(path=katex)
        failed = pg.evaluate("""(lines) => lines.flatMap((tex) => {
            try { katex.renderToString(tex, { displayMode: true, throwOnError: true }); return []; }
            catch (e) { return [[tex, String(e.message)]]; }
        })""", sorted(lines))
        assert failed == []
    finally:
        pg.close()
