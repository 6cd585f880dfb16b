"""The building blocks of the map: colours of grid elements, HTML escaping and popup tables, the
GeoJSON layer and feature helpers, :class:`PlanMap` (a folium map that renders deterministic HTML)
and the inlining of Leaflet and jQuery from installed packages that makes ``map.html`` work offline.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import math
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import folium
import numpy as np
import shapely
import shapely.geometry
from folium.template import Template

from charge_planner.errors import MapError
from charge_planner.outputs.views import fmt_num

log = logging.getLogger(__name__)

#: (upper limit [%], colour) of line and transformer loading
LOADING_COLOURS = ((50.0, "#1a9850"), (80.0, "#fdae61"), (100.0, "#f46d43"), (float("inf"), "#a50026"))
UNDERVOLTAGE, NEAR_LIMIT, NORMAL_V, OVERVOLTAGE = "#a50026", "#fdae61", "#2c7bb6", "#762a83"
#: a bus within this margin of the lower voltage limit is drawn as "near the limit" [pu]
NEAR_LIMIT_PU = 0.02
ISOCHRONE_COLOUR = "#31a354"
GAP_COLOUR = "#e7298a"
OSM_ATTRIBUTION = (
    'Roads and places &copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors (ODbL)'
)
#: folium default resources that only serve icon markers: dropped in offline mode
ICON_ONLY_ASSETS = ("bootstrap", "glyphicons", "fontawesome", "awesome-markers", "awesome.rotate")
SITE_CLASS = "cp-site"


# ---------------------------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------------------------
def esc(value: object) -> str:
    """HTML-escape any value (None becomes an empty string) for a popup, tooltip or label."""
    return html.escape("" if value is None else str(value), quote=True)


def loading_colour(loading_percent: float) -> str:
    """Colour of a line or transformer by its loading [%]."""
    for limit, colour in LOADING_COLOURS:
        if loading_percent <= limit:
            return colour
    return LOADING_COLOURS[-1][1]


def voltage_colour(vm_pu: float, vm_min_pu: float, vm_max_pu: float) -> str:
    """Colour of a bus by its voltage [pu] against the limits [pu]."""
    if not math.isfinite(vm_pu):
        return "#999999"
    if vm_pu < vm_min_pu:
        return UNDERVOLTAGE
    if vm_pu > vm_max_pu:
        return OVERVOLTAGE
    if vm_pu < vm_min_pu + NEAR_LIMIT_PU:
        return NEAR_LIMIT
    return NORMAL_V


def script_json(obj: Any) -> str:
    """JSON that is safe inside an HTML ``<script>`` element (no ``</script>`` break-out)."""
    return (
        json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def _num(v: Any, digits: int | None = 0, unit: str = "") -> str:
    """A number as the report writes it (thousands separators, em dash when missing), with a unit;
    ``digits=None`` writes it in the shortest form (``11``, ``0.4``)."""
    text = fmt_num(v, digits)
    return f"{text} {unit}" if unit and text != "—" else text


def _table(rows: Sequence[tuple[str, str]], title: str | None = None) -> str:
    """Popup table; keys and values must already be escaped HTML."""
    head = f"<div class='cp-popup-title'>{title}</div>" if title else ""
    body = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    return f"{head}<table class='cp-popup'>{body}</table>"


def _r6(a: np.ndarray) -> np.ndarray:
    return np.round(np.asarray(a, dtype=float), 6)


# ---------------------------------------------------------------------------------------------
# map elements
# ---------------------------------------------------------------------------------------------
class GeoJsonLayer(folium.MacroElement):
    """A GeoJSON feature collection drawn by Leaflet inside its parent layer.

    Each feature's ``properties.style`` holds its Leaflet path options; ``properties.tip``
    and ``properties.popup`` (already escaped HTML) bind a tooltip and a popup. Points are
    drawn as circle markers (``style.radius`` in pixels).

    Parameters
    ----------
    features
        GeoJSON features (coordinates in EPSG:4326).
    svg_pane
        Draw into an SVG renderer in this map pane (one DOM element per feature, so a
        browser can count them) instead of the map's shared canvas.
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        (function () {
            var opts = {};
            {%- if this.svg_pane %}
            opts.renderer = L.svg({pane: {{ this.svg_pane|tojson }}, padding: 0.5});
            opts.pane = {{ this.svg_pane|tojson }};
            {%- endif %}
            function styled(f) { return Object.assign({}, opts, f.properties.style || {}); }
            L.geoJSON({{ this.data }}, {
                pointToLayer: function (f, latlng) { return L.circleMarker(latlng, styled(f)); },
                style: styled,
                onEachFeature: function (f, layer) {
                    if (f.properties.tip) { layer.bindTooltip(f.properties.tip, {sticky: true}); }
                    if (f.properties.popup) { layer.bindPopup(f.properties.popup, {maxWidth: 380}); }
                }
            }).addTo({{ this._parent.get_name() }});
        })();
        {% endmacro %}
        """
    )

    def __init__(self, features: list[dict[str, Any]], *, svg_pane: str | None = None) -> None:
        super().__init__()
        self._name = "GeoJsonLayer"
        self.n_features = len(features)
        self.data = script_json({"type": "FeatureCollection", "features": features})
        self.svg_pane = svg_pane


class _MapScript(folium.MacroElement):
    """A few lines of JavaScript run with ``map`` bound to the parent map."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        (function (map) { {{ this.code }} })({{ this._parent.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(self, code: str) -> None:
        super().__init__()
        self._name = "MapScript"
        self.code = code


def _point_feature(lon: float, lat: float, style: dict[str, Any], tip: str = "", popup: str = "") -> dict[str, Any]:
    props: dict[str, Any] = {"style": style}
    if tip:
        props["tip"] = tip
    if popup:
        props["popup"] = popup
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]}, "properties": props}


def _geom_feature(geom: Any, style: dict[str, Any], tip: str = "", popup: str = "") -> dict[str, Any] | None:
    if geom is None or geom.is_empty:
        return None
    g = shapely.geometry.mapping(shapely.set_precision(geom, 1e-6))
    props: dict[str, Any] = {"style": style}
    if tip:
        props["tip"] = tip
    if popup:
        props["popup"] = popup
    return {"type": "Feature", "geometry": g, "properties": props}


# ---------------------------------------------------------------------------------------------
# the map object
# ---------------------------------------------------------------------------------------------
class PlanMap(folium.Map):
    """A folium map that renders offline-ready, deterministic HTML.

    Parameters
    ----------
    offline
        Inline Leaflet and jQuery from installed packages (see :func:`inline_assets`).
    **kwargs
        Passed to :class:`folium.Map`.

    Attributes
    ----------
    notes
        What the map could not show and why (also listed in its legend).
    site_markers
        Number of chosen-site markers drawn (class ``cp-site``).
    """

    def __init__(self, *args: Any, offline: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.offline = offline
        self.notes: list[str] = []
        self.site_markers = 0

    def to_html(self) -> str:
        """The whole map as one HTML document."""
        out = stable_ids(self.get_root().render())
        return inline_assets(out) if self.offline else out

    def save(self, outfile: str | Path, close_file: bool = True, **kwargs: Any) -> None:  # noqa: ARG002
        """Write the map as a standalone HTML file."""
        Path(outfile).write_text(self.to_html(), encoding="utf-8")

    def _repr_html_(self, **kwargs: Any) -> str:
        """Inline view in Jupyter: the standalone document in a sandboxed iframe."""
        return (
            f'<iframe srcdoc="{html.escape(self.to_html(), quote=True)}" '
            'style="width:100%;height:640px;border:none" sandbox="allow-scripts allow-popups" '
            'title="charging plan map"></iframe>'
        )


_ID = re.compile(r"(?<=_)[0-9a-f]{32}(?![0-9a-f])")


def stable_ids(document: str) -> str:
    """Renumber folium's random 32-hex-digit element ids in order of first appearance."""
    seen: dict[str, str] = {}

    def repl(m: re.Match[str]) -> str:
        return seen.setdefault(m.group(0), f"{len(seen) + 1:06d}")

    return _ID.sub(repl, document)


# ---------------------------------------------------------------------------------------------
# offline assets
# ---------------------------------------------------------------------------------------------
_SCRIPT_TAG = re.compile(r'<script src="(?P<url>[^"]+)"></script>')
_LINK_TAG = re.compile(r'<link rel="stylesheet" href="(?P<url>[^"]+)"\s*/?>')
_LEAFLET = re.compile(r"leaflet@(?P<v>[\d.]+)/dist/leaflet\.(?P<ext>js|css)$")
_JQUERY = re.compile(r"jquery[-/](?P<v>\d+\.\d+\.\d+)(?:/jquery)?(?:\.min)?\.js$")


def _xstatic(name: str) -> tuple[Path, str]:
    import importlib

    try:
        mod = importlib.import_module(f"xstatic.pkg.{name}")
    except ImportError as exc:
        raise MapError(
            f"the offline map needs the Python package xstatic-{name} (pip install xstatic-{name}), "
            "or turn offline mode off (outputs.offline_map = false / --online)"
        ) from exc
    return Path(mod.BASE_DIR), str(mod.VERSION)


def _check_version(what: str, wanted: str, have: str) -> None:
    if wanted.split(".")[0] != have.split(".")[0]:
        raise MapError(f"folium links {what} {wanted} but the installed offline copy is {have}; install a matching xstatic-{what}")
    if wanted != have:
        log.info("offline map: folium links %s %s, inlining installed %s", what, wanted, have)


def _strip_source_map(code: str) -> str:
    return re.sub(r"\n//# sourceMappingURL=\S+\s*$", "\n", code)


def _css_with_data_uris(css: str, base: Path) -> str:
    def repl(m: re.Match[str]) -> str:
        ref = m.group(1).strip("'\"")
        path = base / ref
        if ref.startswith(("data:", "#")) or not path.is_file():
            return m.group(0)
        mime = "image/png" if path.suffix == ".png" else "image/svg+xml" if path.suffix == ".svg" else "application/octet-stream"
        return f"url(data:{mime};base64,{base64.b64encode(path.read_bytes()).decode()})"

    return re.sub(r"url\(([^)]+)\)", repl, css)


def asset_text(url: str) -> tuple[str, str] | None:
    """Offline copy of a resource folium links: ``("js"|"css", text)``, or None to drop it.

    Raises
    ------
    MapError
        For a remote resource that has no installed offline copy.
    """
    m = _LEAFLET.search(url)
    if m:
        base, version = _xstatic("leaflet")
        _check_version("leaflet", m["v"], version)
        text = (base / f"leaflet.{m['ext']}").read_text(encoding="utf-8")
        if m["ext"] == "css":
            return "css", _css_with_data_uris(text, base)
        return "js", _strip_source_map(text)
    m = _JQUERY.search(url)
    if m:
        base, version = _xstatic("jquery")
        _check_version("jquery", m["v"], version)
        return "js", _strip_source_map((base / "jquery.min.js").read_text(encoding="utf-8"))
    low = url.lower()
    if any(k in low for k in ICON_ONLY_ASSETS):
        return None
    raise MapError(
        f"the offline map links {url}, which has no installed offline copy; remove the plugin that needs it "
        "or turn offline mode off (outputs.offline_map = false / --online)"
    )


def inline_assets(document: str) -> str:
    """Replace every remote ``<script src>``/stylesheet link folium emitted by inline copies.

    Leaflet comes from ``xstatic-leaflet`` (its CSS images become data URIs) and jQuery from
    ``xstatic-jquery``; Bootstrap, glyphicons, Font Awesome and Leaflet.awesome-markers are
    dropped because the planner's maps draw no icon markers.

    Raises
    ------
    MapError
        When the map uses icon markers (``L.AwesomeMarkers``) or links a resource that has
        no offline copy.
    """
    if "L.AwesomeMarkers" in document:
        raise MapError(
            "the map uses folium icon markers (Leaflet.awesome-markers), which have no offline copy; "
            "draw circle markers instead or turn offline mode off (outputs.offline_map = false / --online)"
        )

    def inline(tag: str) -> Callable[[re.Match[str]], str]:
        """Replace a remote <script src> or <link href> by the asset's text in a <tag> element."""

        def sub(m: re.Match[str]) -> str:
            url = m["url"]
            if not url.startswith(("http://", "https://", "//")):
                return m.group(0)
            got = asset_text(url)
            if got is None:
                return ""
            body = got[1].replace(f"</{tag}", f"<\\/{tag}")
            return f"<{tag}>/* {esc(url.rsplit('/', 1)[-1])} (inlined) */\n{body}</{tag}>"

        return sub

    script, link = inline("script"), inline("style")
    return _LINK_TAG.sub(link, _SCRIPT_TAG.sub(script, document))
