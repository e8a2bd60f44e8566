"""The gallery (labkit.gallery, labkit.gallery_html, labkit.gallery_page), never the real one (minutes):

- the index from two fake executed notebooks with records: rounded values, escaped text, links,
  thumbnails; the cache deciding what to run (its key, reuse, --force) with the runs faked;
- one small fixture notebook (a HoloViews plot, a Panel row and $x^2$) through the whole code path —
  Dask, papermill, the export cell, nbconvert — whose page and index, served on 127.0.0.1, make no
  request that leaves the machine, draw the plot and MathJax, and log no console error (marked `ui`).
"""

from __future__ import annotations

import functools
import json
import re
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlparse

import nbformat
import pytest

from labkit import gallery
from labkit.gallery import build, cache_key, read_manifest, reusable
from labkit.gallery_html import localize
from labkit.gallery_page import Card, format_duration, format_value, index_html, notebook_summary
from labkit.records import MIME_TYPE, read_records

PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
       b"\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99=\x1d\x00\x00\x00\x00IEND\xaeB`\x82")


# -- numbers and text --------------------------------------------------------------------------

@pytest.mark.parametrize("value, shown", [
    (3.14159265, "3.14"), (0.5, "0.5"), (2.0, "2"), (12, "12"), (-7, "−7"),
    (13476536320.0, "13,476,536,320"), (1234.5, "1,230"), (0.999949, "1"), (0.0421337, "0.0421"),
    (-0.0421337, "−0.0421"), (0.000123456, "1.23×10<sup>−4</sup>"), (123456.7, "1.23×10<sup>5</sup>"),
    (True, "true"), (None, "—"), ("nan", "nan"),
    ([0.9, 0.95, 0.97, 0.98, 0.985, 0.99, 0.991], "7 values, 0.9 … 0.991"),
    ([0.123456, 2], "[0.123, 2]"),
    ({"pim": 611.23456, "gpu": 2.25}, "pim: 611; gpu: 2.25"),
    ([{"batch": 1, "ms": 0.5}, {"batch": 2, "ms": 0.25}], "table, 2 rows × 2 columns (batch, ms)"),
])
def test_values_are_rounded_to_their_precision(value, shown):
    assert format_value(value) == shown


def test_text_is_shortened_before_it_is_escaped():
    shown = format_value("&<" * 100)
    assert shown.endswith("…") and "<" not in shown
    assert re.fullmatch(r"(&amp;|&lt;)+…", shown), "a character entity was cut"
    assert format_value("<script>x</script>") == "&lt;script&gt;x&lt;/script&gt;"
    assert format_value({"<k>": "a&b"}) == "&lt;k&gt;: a&amp;b"


def test_durations_read_as_time():
    assert [format_duration(s) for s in (3.21, 42.4, 125, 3725, None)] == \
        ["3.2 s", "42 s", "2 min 5 s", "1 h 02 min", "—"]


# -- fake executed notebooks ---------------------------------------------------------------------

def _source(path: Path, title: str, paragraph: str, body: str = "x = 1") -> Path:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('figures: str = ""')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {title}\n\n{paragraph}\n\nA second paragraph."), params,
                nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def _executed(source: Path, out: Path, records: dict) -> Path:
    """`source` as if the gallery had run it: a record output per record, in out/<name>."""
    nb = nbformat.read(source, as_version=4)
    cell = nbformat.v4.new_code_cell("import labkit")
    cell.outputs = [nbformat.v4.new_output("display_data", data={MIME_TYPE: {"key": k, "value": v},
                                                                 "text/plain": f"labkit.record {k}"})
                    for k, v in records.items()]
    nb.cells.append(cell)
    nbformat.write(nb, out / source.name)
    return out / source.name


RECORDS_A = {"recall": 0.9912345678, "n": 20000, "qps": 12345.678, "note": "<b>&amp;</b> " + "x" * 200,
             "curve": [0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99], "energy_mJ": {"pim": 611.2345, "gpu": 400.0}}
RECORDS_B = {"ratio": 0.7712, "ok": True}


@pytest.fixture
def two_notebooks(tmp_path):
    """Two source notebooks and a gallery folder where both ran ok (manifest, executed, figures)."""
    src, out = tmp_path / "notebooks", tmp_path / "gallery"
    src.mkdir()
    (out / "figures").mkdir(parents=True)
    a = _source(src / "10_alpha.ipynb", "10 · Alpha & <omega>", "Teaches **bold** things about `code` and "
                "[a paper](https://arxiv.org/abs/1603.09320).")
    b = _source(src / "11_beta.ipynb", "11 · Beta", "The second one.")
    params = {"figures": str(out / "figures")}
    manifest = {"format": 1, "notebooks": {}}
    for nb, records, secs in ((a, RECORDS_A, 75.3), (b, RECORDS_B, 4.2)):
        _executed(nb, out, records)
        (out / "figures" / f"{nb.stem}.png").write_bytes(PNG)
        manifest["notebooks"][nb.name] = {"key": cache_key(nb, params), "status": "ok", "duration_s": secs,
                                          "finished": "2026-01-02T03:04:05+00:00", "error": "", "library": ""}
    (out / "manifest.json").write_text(json.dumps(manifest))
    return src, out, [a, b]


def _no_runs(*args, **kwargs):
    raise AssertionError("the gallery ran a notebook it should have reused")


def test_index_has_one_card_per_notebook(two_notebooks, monkeypatch):
    src, out, nbs = two_notebooks
    monkeypatch.setattr(gallery, "figures_available", lambda: True)
    monkeypatch.setattr(gallery, "_run_all", _no_runs)
    outcomes = build(out, nbs, papers_dir=gallery.REPO / "papers", progress=False)
    assert [(o.status, o.cached) for o in outcomes] == [("ok", True), ("ok", True)]
    # reused notebooks get their pages made (here: none yet), and the manifest says by which code
    assert {e.get("page") for e in read_manifest(out)["notebooks"].values()} == {gallery.page_digest()}
    page = (out / "index.html").read_text(encoding="utf-8")
    assert page.count("<article class='card'") == 2
    # what it teaches: the title and the first paragraph, marks rendered, text escaped
    assert "10 · Alpha &amp; &lt;omega&gt;" in page and "A second paragraph" not in page
    assert "<strong>bold</strong>" in page and "<code>code</code>" in page
    assert '<a href="https://arxiv.org/abs/1603.09320">a paper</a>' in page
    # records rounded to their precision, escaped, summarised; no raw float anywhere
    for shown in ("0.991", "20,000", "1.23×10<sup>4</sup>", "[0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99]",
                  "gpu: 400; pim: 611", "0.771", "&lt;b&gt;&amp;amp;&lt;/b&gt;"):
        assert shown in page, shown
    assert not [v for v in re.findall(r"<td>(.*?)</td>", page) if re.search(r"\d\.\d{4,}", v)], "an unrounded float"
    # status, run time, thumbnails and links
    assert "1 min 15 s" in page and "4.2 s" in page and "reused" in page
    for stem in ("10_alpha", "11_beta"):
        assert f"<img src='figures/{stem}.png'" in page
        assert f"href='{stem}.html'" in page and (out / f"{stem}.html").is_file()
        assert f"href='{stem}.ipynb'" in page
    assert "href='papers.html'" in page
    papers = (out / "papers.html").read_text(encoding="utf-8")
    assert "<section class='labkit-ledger'>" in papers and "href='index.html'" in papers
    assert not re.search(r"(src|href)=['\"]https?://(?!arxiv\.org)", page), "the index loads from the network"


def test_a_failed_card_shows_its_error_escaped():
    card = Card("12_gamma", "12 · Gamma", "", "failed", 3.0, error="ValueError: <bad> & worse")
    page = index_html([card])
    assert "<span class='status failed'>failed</span>" in page
    assert "ValueError: &lt;bad&gt; &amp; worse" in page and "no figure" in page


def test_summary_is_the_first_markdown_paragraph(tmp_path):
    nb = _source(tmp_path / "x.ipynb", "Title here", "line one\nline two")
    assert notebook_summary(nb) == ("Title here", "line one line two")


# -- the cache -----------------------------------------------------------------------------------

def test_cache_key_follows_cells_and_parameters_not_outputs(tmp_path):
    nb = _source(tmp_path / "x.ipynb", "T", "p")
    key = cache_key(nb, {"figures": "a"})
    assert cache_key(nb, {"figures": "a"}) == key
    assert cache_key(nb, {"figures": "b"}) != key
    node = nbformat.read(nb, as_version=4)
    node.cells[2].outputs = [nbformat.v4.new_output("stream", text="out\n")]
    node.cells[2].execution_count = 3
    nbformat.write(node, nb)
    assert cache_key(nb, {"figures": "a"}) == key, "outputs changed the key"
    node.cells[2].source = "x = 2"
    nbformat.write(node, nb)
    assert cache_key(nb, {"figures": "a"}) != key


def test_reuse_needs_an_ok_run_with_its_outputs(two_notebooks):
    src, out, (a, _) = two_notebooks
    entry = read_manifest(out)["notebooks"][a.name]
    key = entry["key"]
    assert reusable(entry, key, out, a, figure=True)
    assert not reusable(entry, "other", out, a, figure=True)
    assert not reusable({**entry, "status": "failed"}, key, out, a, figure=True)
    (out / "figures" / f"{a.stem}.png").unlink()
    assert not reusable(entry, key, out, a, figure=True) and reusable(entry, key, out, a, figure=False)


def test_changed_and_forced_notebooks_run_again(two_notebooks, monkeypatch):
    """The runs are faked: what is run, and what the manifest and pages say afterwards."""
    src, out, (a, b) = two_notebooks
    monkeypatch.setattr(gallery, "figures_available", lambda: True)
    ran = []

    def fake_run_all(todo, out_, workers, timeout, on_start, on_done):
        for nb, params in todo:
            ran.append(nb.name)
            assert params == {"figures": str(out / "figures")}
            on_start(nb)
            executed = _executed(nb, out / "scratch", {"fresh": 1.23456})
            on_done(nb, {"status": "ok", "error": "", "duration_s": 2.5, "output": str(executed)})

    (out / "scratch").mkdir()
    monkeypatch.setattr(gallery, "_run_all", fake_run_all)
    node = nbformat.read(b, as_version=4)
    node.cells[2].source = "x = 3"
    nbformat.write(node, b)
    outcomes = build(out, [a, b], papers_dir=src / "no-papers", progress=False)
    assert ran == ["11_beta.ipynb"] and [o.cached for o in outcomes] == [True, False]
    assert outcomes[1].records == {"fresh": 1.23456} and read_records(out / b.name) == {"fresh": 1.23456}
    entry = read_manifest(out)["notebooks"][b.name]
    assert entry["key"] == cache_key(b, {"figures": str(out / "figures")}) and entry["duration_s"] == 2.5
    ran.clear()
    build(out, [a, b], papers_dir=src / "no-papers", progress=False, force=True)
    assert sorted(ran) == ["10_alpha.ipynb", "11_beta.ipynb"]


def test_notebooks_must_declare_figures(tmp_path):
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("n: int = 1")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params]
    nbformat.write(nb, tmp_path / "x.ipynb")
    with pytest.raises(ValueError, match=r"^notebooks: expected notebooks whose parameters cell declares `figures"):
        build(tmp_path / "out", [tmp_path / "x.ipynb"], progress=False)
    with pytest.raises(ValueError, match=r"^workers: "):
        build(tmp_path / "out", [tmp_path / "x.ipynb"], workers=0, progress=False)


# -- the pages load nothing from the network -------------------------------------------------------

def test_panel_cdn_urls_point_at_local_copies(tmp_path):
    page = ('<link href="https://cdn.holoviz.org/panel/1.9.4/dist/css/loading.css?v=1.9.4">'
            '"https://cdn.holoviz.org/panel/1.9.4/dist/bundled/theme/native.css"'
            '"https://cdn.holoviz.org/panel/1.9.4/dist/no/such/file.css"'
            'f._url="https://cdn.jsdelivr.net/npm/@tabler/icons-webfont@latest"')
    local = localize(page, tmp_path)
    assert "https://" not in local
    assert 'href="static/panel/css/loading.css"' in local and '"static/panel/bundled/theme/native.css"' in local
    assert '"data:,"' in local and 'f._url="data:,"' in local
    assert (tmp_path / "static/panel/css/loading.css").is_file()
    # the spinners loading.css names are copied beside it
    assert any((tmp_path / "static/panel/assets").glob("*.svg"))


FIXTURE_MD = ("# Fixture · a plot and $x^2$\n\nA small notebook: one curve, and the area under $x^2$,\n"
              "$$\\int_0^1 x^2\\,dx = \\tfrac{1}{3}.$$")
FIXTURE_CELLS = [
    "import holoviews as hv\nimport panel as pn\n\nimport labkit\n\npn.extension(inline=True)\nhv.extension('bokeh')\n"
    "fig = hv.Curve([1, 4, 9], 'x', 'x squared').opts(width=400, height=300)\nfig",
    "if figures:\n    from widgets.export import export\n"
    "    export(fig, f'{figures}/fixture.png', width=480, height=360, scale=1)",
    "pn.Row(pn.widgets.FloatSlider(name='x'), pn.pane.HoloViews(hv.Scatter([1, 2, 3])))",
    "labkit.record('area', 1 / 3)\nlabkit.record('label', '<b>&amp;</b>')",
]


@pytest.fixture
def loopback_server():
    """serve(folder) -> base URL of an HTTP server for `folder` on 127.0.0.1 (stopped afterwards)."""
    servers = []

    def serve(folder: Path) -> str:
        handler = functools.partial(QuietHandler, directory=str(folder))
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"
    yield serve
    for s in servers:
        s.shutdown()
        s.server_close()


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


_DRAWN = """() => { let canvases = 0;
    const walk = (root) => { for (const e of root.querySelectorAll('*')) {
        if (e.tagName === 'CANVAS' && e.width > 100 && e.height > 100) canvases++;
        if (e.shadowRoot) walk(e.shadowRoot); } };
    walk(document);
    const mathjax = window.MathJax && window.MathJax.Hub;
    return {canvases, math: document.querySelectorAll('.MathJax, .MathJax_Display').length,
            typesetting: !!mathjax && mathjax.queue.pending > 0,
            images: [...document.images].map(i => i.complete && i.naturalWidth > 0)}; }"""


def _open_offline(chromium, url: str, canvases: int = 0, math: int = 0) -> dict:
    """Load `url` with every request to a host other than 127.0.0.1/localhost aborted and recorded, and
    wait until at least `canvases` plots and `math` formulas are drawn; what was asked, the console
    errors, and what was drawn."""
    context = chromium.new_context(viewport={"width": 1280, "height": 800})
    page, asked, errors = context.new_page(), [], []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))

    def route(r):
        url_ = r.request.url
        if url_.startswith(("file:", "data:", "blob:")) or urlparse(url_).hostname in ("127.0.0.1", "localhost"):
            return r.continue_()
        asked.append(url_)
        return r.abort()
    try:
        page.route("**/*", route)
        page.goto(url, wait_until="load", timeout=120_000)
        try:
            page.wait_for_function(f"() => {{ const d = ({_DRAWN})(); return d.canvases >= {canvases} && "
                                   f"d.math >= {math} && !d.typesetting && d.images.every(Boolean); }}",
                                   timeout=120_000)
        except Exception as e:  # say what was there instead
            raise AssertionError(f"waited 120 s for {canvases} plots and {math} formulas on {url}: "
                                 f"{page.evaluate(_DRAWN)}; asked {asked}; errors {errors}") from e
        drawn = page.evaluate(_DRAWN)
    finally:
        context.close()
    return {"asked": asked, "errors": errors, **drawn}


@pytest.mark.ui
@pytest.mark.notebook
@pytest.mark.timeout(900)
def test_a_notebook_through_the_gallery_is_offline_and_draws(chromium, tmp_path, loopback_server, capsys):
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('figures: str = ""')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell(FIXTURE_MD), params, *map(nbformat.v4.new_code_cell, FIXTURE_CELLS)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "fixture.ipynb")
    out = tmp_path / "gallery"

    (o,) = build(out, [tmp_path / "fixture.ipynb"], workers=1, timeout=300, papers_dir=tmp_path / "no-papers")
    assert o.status == "ok", o.error
    said = capsys.readouterr().err
    assert "fixture.ipynb: started" in said and re.search(r"fixture\.ipynb: ok in \d", said), said
    assert not o.cached and o.records["area"] == pytest.approx(1 / 3)
    assert (out / "figures" / "fixture.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    base = loopback_server(out)
    notebook_page = _open_offline(chromium, f"{base}/fixture.html", canvases=2, math=3)
    assert notebook_page["asked"] == [], "the notebook's page asked the network"
    assert notebook_page["errors"] == [], "console errors on the notebook's page"
    assert notebook_page["canvases"] >= 2, "the HoloViews plot and the Panel row were not drawn"
    assert notebook_page["math"] >= 2, "MathJax did not typeset $x^2$"
    index = _open_offline(chromium, f"{base}/index.html", math=1)
    assert index["asked"] == [] and index["errors"] == []
    assert index["images"] == [True], "the thumbnail did not load"
    # the same pages from disk (file://): what a person opening build/gallery/index.html gets
    from_disk = _open_offline(chromium, (out / "fixture.html").as_uri(), canvases=2, math=3)
    assert from_disk["asked"] == [] and from_disk["errors"] == [] and from_disk["canvases"] >= 2

    (again,) = build(out, [tmp_path / "fixture.ipynb"], workers=1, papers_dir=tmp_path / "no-papers", progress=False)
    assert again.cached and again.status == "ok" and again.records == o.records
