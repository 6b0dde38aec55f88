"""derivax report: one self-contained page with the network's picture, the derivation as MathML, the steps,
the verification table and the training curves: the explorer's page frozen (its script inlined, nothing
fetched), with the script-free page inside; `--static` writes that one alone; a Markdown twin; checked in
a headless browser where one is installed."""
import re
import shutil
import subprocess

import pytest

from compile.cli.main import main


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    path = tmp_path_factory.mktemp("report") / "xor.html"
    assert main(["report", "xor", "--epochs", "20", "--static", "-o", str(path)]) == 0
    return path, path.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def frozen(tmp_path_factory):
    path = tmp_path_factory.mktemp("report") / "xor.html"
    assert main(["report", "xor", "--epochs", "20", "-o", str(path)]) == 0
    return path, path.read_text(encoding="utf-8")


def test_the_page_is_self_contained(page):
    _, text = page
    assert text.startswith("<!DOCTYPE html>") and "<script" not in text
    assert not re.search(r"""(src|href)=["']?https?:""", text)   # nothing fetched: no CDN


def test_the_default_report_is_the_explorer_page_frozen(frozen):
    import json
    from derive.network.examples import resolve
    from derive.printing.page import record
    _, text = frozen
    assert not re.search(r"""(src|href)=["']?(https?:|/static)""", text)   # script and style inlined
    boot = json.loads(text.split('id="derivax-boot" type="application/json">')[1].split("</script>")[0])
    assert boot["mode"] == "frozen" and boot["record"]["sections"] == record(resolve("xor")[1].derive(), "xor")["sections"]
    assert len(boot["verify"]["rows"]) == 12 and boot["verify"]["ok"]
    assert len(boot["curves"]["train_loss"]) == 20
    noscript = text.split("<noscript>")[1].split("</noscript>")[0]
    assert "<h2>Gradients" in noscript and noscript.count("<math ") > 20


def test_the_page_has_every_section(page):
    _, text = page
    for heading in ("The network", "Forward pass", "Error signals", "Gradients", "Steps", "Verification",
                    "Training (20 epochs"):
        assert f"<h2>{heading}" in text, heading
    assert text.count("<math ") > 20 and "<svg" in text
    assert text.count('class="ok">agree') == 12 and "DIFFER" not in text   # 4 parameters, three references


def test_the_picture_names_each_layer():
    from derive import Dense, Network
    from derive.network.attention import TransformerBlock
    from derive.network.embedding import Embedding
    from derive.printing.html import network_svg
    svg = network_svg(Network(4, [Embedding(6, 4), TransformerBlock(2, hidden=8), Dense(6, "softmax")]).build())
    for label in ("Embedding 4", "LayerNorm 4", "Attention 4", "Dense 8 relu", "Dense 6 softmax", "loss ce"):
        assert label in svg, label
    assert svg.count("<path d=\"M ") == 2   # the block's two residual connections


def test_a_markdown_report_and_a_bad_name(tmp_path, capsys):
    assert main(["report", "xor", "-o", str(tmp_path / "r.md")]) == 0
    md = (tmp_path / "r.md").read_text()
    assert "### Verification" in md and "| W1 | jax_grad |" in md
    assert main(["report", "xor", "-o", str(tmp_path / "r.pdf")]) == 2
    assert "must end in .html or .md" in capsys.readouterr().err


def test_the_page_renders_in_a_headless_browser(page, tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("no chromium on this machine")
    path, _ = page
    done = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", path.as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "<math" in done.stdout and "Verification" in done.stdout


def test_a_targets_steps_are_numbers_of_shared_lines_and_the_record_grows_linearly_with_depth():
    """Each clickable target lists its steps by number in one shared list: the record of 2L layers is about
    twice that of L layers (with a copy of the lines per target it grew 4x: a 60-layer page was 60 MB)."""
    import json
    from derive import Dense, Network
    from derive.printing.page import record

    def rec(depth):
        net = Network(4, [Dense(4, "tanh") for _ in range(depth)] + [Dense(2, "softmax")], loss="ce")
        return record(net.derive(), "deep")

    small, large = rec(8), rec(16)
    lines = large["step_lines"]
    w1 = large["targets"]["P:W1"]["steps"]
    assert w1 == sorted(set(w1)) and all(0 <= k < len(lines) for k in w1)
    # W1's steps run from the loss's derivative down to its own gradient, ∂J/∂W₁ last
    assert lines[w1[0]]["formula"] == "dJ/dA17 = -(1/m)*Y/A17"
    assert lines[w1[-1]]["formula"] == "dJ/dW1 = (1/m)*(X.T @ delta1)"
    growth = len(json.dumps(large)) / len(json.dumps(small))
    assert 1.6 < growth < 2.6, growth
