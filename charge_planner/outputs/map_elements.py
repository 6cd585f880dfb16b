"""The building blocks of the map: colours of grid elements, HTML escaping and popup tables, the
GeoJSON layer (optionally with clustered markers) and feature helpers, the level of detail
(:class:`MapDetail`), :class:`PlanMap` (a folium map that renders deterministic HTML) and the
inlining of Leaflet, jQuery and Leaflet.markercluster from installed packages that makes
``map.html`` work offline.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import folium
import numpy as np
import shapely
import shapely.geometry
from folium.elements import JSCSSMixin
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
#: where an online map loads Leaflet.markercluster from (offline maps inline the installed copy)
MARKERCLUSTER_CDN = "https://cdnjs.cloudflare.com/ajax/libs/leaflet.markercluster/1.4.1"


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


#: decimals of the map's longitudes and latitudes: 1e-5 degree is at most 1.1 m on the ground
COORD_DECIMALS = 5


def _popup(rows: Sequence[tuple[str, str]], title: str | None = None) -> list[Any]:
    """A popup table in compact form, ``[title, [[key, value], ...]]``, that :class:`GeoJsonLayer` draws as a
    ``cp-popup-title`` heading over a ``cp-popup`` table of key and value rows; keys, values and title must
    already be escaped HTML."""
    return [title or "", [[k, v] for k, v in rows]]


def _rc(a: np.ndarray) -> np.ndarray:
    """Longitudes or latitudes rounded to :data:`COORD_DECIMALS` (about 1 m)."""
    return np.round(np.asarray(a, dtype=float), COORD_DECIMALS)


# ---------------------------------------------------------------------------------------------
# level of detail
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MapDetail:
    """Sizes above which the map draws a layer in less detail, so that the map of a whole metro
    stays a file a browser opens in seconds; every simplification is named in its layer and in
    the legend. The defaults keep every element of a district-sized plan (the demo city has 252
    demand cells, 5,905 road edges, 2,891 grid buses and 85 candidates).

    Attributes
    ----------
    demand_cells
        Cells per demand view above which neighbouring cells merge into square blocks of
        k × k cells (k the smallest integer that brings the view under this count).
    road_edges
        Edges of the road graph (each direction counts) above which only major roads (motorway to tertiary, with their links) are drawn.
    grid_buses
        Grid buses above which the grid layers show the MV network, substations and distribution
        transformers; LV buses and lines are drawn only where they violate a limit, and the EV
        hosting layer only the transformers that reach a new violation.
    markers
        Markers in a layer (candidate sites, chosen sites) above which they are clustered.
    grid_elements
        Lines or transformers in a grid layer above which those loaded up to
        :data:`MERGE_UP_TO_PERCENT` without a violation are drawn merged: one shape per loading
        colour class, whose tooltip counts them. Elements loaded more, violated or without a
        loading keep a feature and a tooltip each.
    """

    demand_cells: int = 1500
    road_edges: int = 10_000
    grid_buses: int = 5_000
    markers: int = 400
    grid_elements: int = 10_000


#: loading [%] up to which the lines and transformers of a very large grid are drawn merged by colour
#: class (:attr:`MapDetail.grid_elements`); the upper bound of the second colour class
MERGE_UP_TO_PERCENT = 80.0


# ---------------------------------------------------------------------------------------------
# map elements
# ---------------------------------------------------------------------------------------------
class GeoJsonLayer(folium.MacroElement):
    """A GeoJSON feature collection drawn by Leaflet inside its parent layer.

    Each feature's ``properties.style`` holds its Leaflet path options (over the layer's
    ``base_style``, so options every feature shares are written once); ``properties.tip``
    and ``properties.popup`` (already escaped HTML) bind a tooltip and a popup. A popup may
    also be ``[title, [[key, value], ...]]`` (see :func:`_popup`), drawn as a table in the
    browser, so a large layer does not repeat the table's markup in every feature. Points are
    drawn as circle markers (``style.radius`` in pixels).

    Parameters
    ----------
    features
        GeoJSON features (coordinates in EPSG:4326).
    svg_pane
        Draw into an SVG renderer in this map pane (one DOM element per feature, so a
        browser can count them) instead of the map's shared canvas.
    base_style
        Leaflet path options of every feature, under each feature's own ``style``.
    cluster
        Put the point markers into a Leaflet.markercluster group: nearby markers merge into
        one numbered cluster at low zoom and split as the user zooms in.
    cluster_radius_px
        Largest distance of a marker from its cluster's centre [px].
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        (function () {
            var opts = {{ this.base_style }};
            {%- if this.svg_pane %}
            opts.renderer = L.svg({pane: {{ this.svg_pane|tojson }}, padding: 0.5});
            opts.pane = {{ this.svg_pane|tojson }};
            {%- endif %}
            function styled(f) { return Object.assign({}, opts, f.properties.style || {}); }
            function popup(p) {
                if (typeof p === 'string') { return p; }
                var rows = p[1].map(function (r) { return '<tr><th>' + r[0] + '</th><td>' + r[1] + '</td></tr>'; });
                return (p[0] ? "<div class='cp-popup-title'>" + p[0] + '</div>' : '')
                    + "<table class='cp-popup'>" + rows.join('') + '</table>';
            }
            var layer = L.geoJSON({{ this.data }}, {
                pointToLayer: function (f, latlng) { return L.circleMarker(latlng, styled(f)); },
                style: styled,
                onEachFeature: function (f, layer) {
                    if (f.properties.tip) { layer.bindTooltip(f.properties.tip, {sticky: true}); }
                    if (f.properties.popup) { layer.bindPopup(popup(f.properties.popup), {maxWidth: 380}); }
                }
            });
            {%- if this.cluster %}
            var group = L.markerClusterGroup({maxClusterRadius: {{ this.cluster_radius_px }}, chunkedLoading: true,
                                              showCoverageOnHover: false, spiderfyOnMaxZoom: true});
            group.addLayer(layer);
            group.addTo({{ this._parent.get_name() }});
            {%- else %}
            layer.addTo({{ this._parent.get_name() }});
            {%- endif %}
        })();
        {% endmacro %}
        """
    )

    def __init__(
        self,
        features: list[dict[str, Any]],
        *,
        svg_pane: str | None = None,
        base_style: dict[str, Any] | None = None,
        cluster: bool = False,
        cluster_radius_px: int = 50,
    ) -> None:
        super().__init__()
        self._name = "GeoJsonLayer"
        self.n_features = len(features)
        self.data = script_json({"type": "FeatureCollection", "features": features})
        self.svg_pane = svg_pane
        self.base_style = script_json(base_style or {})
        self.cluster = cluster
        self.cluster_radius_px = int(cluster_radius_px)
        if cluster:
            MarkerClusterAssets().add_to(self)


class MarkerClusterAssets(JSCSSMixin, folium.MacroElement):
    """The Leaflet.markercluster plugin (inlined offline from ``xstatic-leaflet-markercluster``)."""

    _template = Template("")
    default_js = [("leaflet_markercluster_js", f"{MARKERCLUSTER_CDN}/leaflet.markercluster.js")]
    default_css = [
        ("leaflet_markercluster_css", f"{MARKERCLUSTER_CDN}/MarkerCluster.css"),
        ("leaflet_markercluster_default_css", f"{MARKERCLUSTER_CDN}/MarkerCluster.Default.css"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._name = "MarkerClusterAssets"


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


def _point_feature(
    lon: float, lat: float, style: dict[str, Any], tip: str = "", popup: str | list[Any] = ""
) -> dict[str, Any]:
    lon, lat = round(float(lon), COORD_DECIMALS), round(float(lat), COORD_DECIMALS)
    props: dict[str, Any] = {"style": style} if style else {}
    if tip:
        props["tip"] = tip
    if popup:
        props["popup"] = popup
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]}, "properties": props}


def _geom_feature(geom: Any, style: dict[str, Any], tip: str = "", popup: str = "") -> dict[str, Any] | None:
    if geom is None or geom.is_empty:
        return None
    g = shapely.geometry.mapping(shapely.transform(geom, lambda c: np.round(c, COORD_DECIMALS)))
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
    detail
        The sizes above which layers are simplified (:class:`MapDetail`).
    simplified
        What was drawn in less detail because of the plan's size (also listed in its legend).
    """

    def __init__(self, *args: Any, offline: bool = True, detail: MapDetail | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.offline = offline
        self.detail = detail or MapDetail()
        self.notes: list[str] = []
        self.simplified: list[str] = []
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
_MARKERCLUSTER = re.compile(
    r"leaflet\.markercluster@?/?(?P<v>\d+\.\d+\.\d+)/(?:dist/)?(?P<file>leaflet\.markercluster\.js|MarkerCluster(?:\.Default)?\.css)$"
)
_JQUERY = re.compile(r"jquery[-/](?P<v>\d+\.\d+\.\d+)(?:/jquery)?(?:\.min)?\.js$")


def _xstatic(name: str, dist: str | None = None) -> tuple[Path, str]:
    """Folder and version of the installed ``xstatic.pkg.<name>`` (pip package ``xstatic-<dist or name>``)."""
    import importlib

    try:
        mod = importlib.import_module(f"xstatic.pkg.{name}")
    except ImportError as exc:
        raise MapError(
            f"the offline map needs the Python package xstatic-{dist or name} (pip install xstatic-{dist or name}), "
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
    m = _MARKERCLUSTER.search(url)
    if m:
        base, version = _xstatic("leaflet_markercluster", "leaflet-markercluster")
        _check_version("leaflet-markercluster", m["v"], version)
        text = (base / m["file"]).read_text(encoding="utf-8")
        return ("css", text) if m["file"].endswith(".css") else ("js", _strip_source_map(text))
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

    Leaflet comes from ``xstatic-leaflet`` (its CSS images become data URIs), jQuery from
    ``xstatic-jquery`` and Leaflet.markercluster from ``xstatic-leaflet-markercluster``; Bootstrap, glyphicons, Font Awesome and Leaflet.awesome-markers are
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
