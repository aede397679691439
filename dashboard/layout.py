"""The page: a header with the live state, and three tabs (Live, Analyse, Model).

Only structure lives here; every value is filled in by dashboard.callbacks.
Component ids are the contract with the callbacks and the browser tests.
"""

from __future__ import annotations

from dash import dash_table, dcc, html

from dashboard import figures
from dashboard.analysis import Limits, human_size
from dashboard.live_view import DEFAULT_WINDOW, WINDOWS

REFRESH_MS = 1000
POLL_MS = 400
STATIC_GRAPH = {"displayModeBar": False}
ZOOM_GRAPH = {"displaylogo": False, "modeBarButtonsToRemove": ["lasso2d", "select2d"]}


def _graph(graph_id: str, message: str = "waiting for data", zoom: bool = False) -> dcc.Graph:
    return dcc.Graph(id=graph_id, figure=figures.empty_figure(message), config=ZOOM_GRAPH if zoom else STATIC_GRAPH)


def _card(title: str, *children, wide: bool = False, extra: str = "") -> html.Div:
    return html.Div([html.H3(title), *children], className=" ".join(c for c in ("card", "wide" if wide else "", extra) if c))


def _label_colours(column: str) -> list[dict]:
    return [
        {"if": {"filter_query": f'{{{column}}} = "{label}"', "column_id": column}, "color": colour, "fontWeight": "600"}
        for label, colour in (("positive", figures.POSITIVE_COLOUR), ("negative", figures.NEGATIVE_COLOUR))
    ]


_TABLE_STYLE = dict(
    style_table={"overflowX": "auto"},
    style_cell={"fontFamily": figures.FONT, "textAlign": "left", "padding": "6px 10px", "fontSize": "13px", "whiteSpace": "normal", "height": "auto", "border": "none"},
    style_header={"fontWeight": "600", "backgroundColor": "#f3f5f8", "border": "none"},
    style_data={"borderBottom": "1px solid #eef0f3"},
)


def live_tab() -> html.Div:
    latest_columns = [
        {"name": "time (UTC)", "id": "time"},
        {"name": "label", "id": "label"},
        {"name": "p(negative)", "id": "p_negative"},
        {"name": "true", "id": "true"},
        {"name": "review", "id": "text"},
        {"name": "model", "id": "model"},
    ]
    return html.Div(
        [
            html.Div(
                [
                    html.Span("Window", className="control-label"),
                    dcc.RadioItems(
                        id="live-window",
                        options=[{"label": label, "value": value} for value, label in WINDOWS.items()],
                        value=DEFAULT_WINDOW,
                        inline=True,
                        className="window-picker",
                    ),
                ],
                className="controls",
            ),
            html.Div(id="live-kpis", className="kpis"),
            html.Div(
                [_card("Distribution", _graph("live-bar")), _card("Share", _graph("live-pie"))],
                className="grid two",
            ),
            _card("Positive and negative reviews per interval", _graph("live-series", zoom=True), wide=True),
            html.Div(
                [
                    _card(
                        "Latest reviews",
                        dash_table.DataTable(
                            id="live-latest",
                            columns=latest_columns,
                            data=[],
                            page_size=12,
                            style_data_conditional=_label_colours("label"),
                            style_cell_conditional=[{"if": {"column_id": "text"}, "minWidth": "320px"}],
                            **_TABLE_STYLE,
                        ),
                        extra="span-2",
                    ),
                    _card("Live accuracy", html.P(id="live-accuracy", className="muted"), _graph("live-confusion", "no labelled reviews yet")),
                ],
                className="grid three",
            ),
        ],
        className="tab-body",
    )


def analyse_tab(limits: Limits) -> html.Div:
    return html.Div(
        [
            _card(
                "Analyse one review",
                dcc.Textarea(id="review-text", placeholder="Paste a review…", className="review-input"),
                html.Div(html.Button("Analyse", id="review-button", n_clicks=0, className="button primary"), className="actions"),
                dcc.Loading(html.Div(id="review-result"), type="dot"),
                wide=True,
            ),
            _card(
                "Analyse a CSV file",
                html.Div(
                    [
                        dcc.Upload(
                            id="csv-upload",
                            children=html.Div(
                                [
                                    html.B("Drop a CSV here or click to choose one"),
                                    html.Div(f"up to {human_size(limits.max_bytes)} and {limits.max_rows:,} rows; UTF-8 or another encoding, detected", className="muted"),
                                ]
                            ),
                            className="upload",
                            multiple=False,
                        ),
                        html.Div(
                            [
                                html.Span("Text column", className="control-label"),
                                dcc.Dropdown(id="csv-column", options=["text"], value="text", clearable=False, className="column-picker"),
                            ],
                            className="column-row",
                        ),
                    ],
                    className="upload-row",
                ),
                html.Div(id="csv-message"),
                html.Div(
                    html.Div(html.Div(id="csv-progress", className="progress-fill", style={"width": "0%"}), className="progress-track"),
                    id="csv-progress-box",
                    className="progress-box",
                    style={"display": "none"},
                ),
                html.Div(id="csv-status", className="message"),
                html.Div(
                    [
                        html.Div([_graph("csv-bar"), _graph("csv-pie")], className="grid two"),
                        html.P(id="csv-preview-note", className="muted"),
                        dash_table.DataTable(
                            id="csv-preview",
                            columns=[],
                            data=[],
                            page_size=10,
                            style_data_conditional=_label_colours("predicted_label"),
                            **_TABLE_STYLE,
                        ),
                        html.Div(
                            html.Button("Download labelled CSV", id="csv-download-button", n_clicks=0, disabled=True, className="button primary"),
                            className="actions",
                        ),
                    ],
                    id="csv-results",
                    style={"display": "none"},
                ),
                html.A(id="csv-download-link", download="", style={"display": "none"}),
                dcc.Store(id="csv-download-url"),
                dcc.Store(id="csv-reply"),
                dcc.Store(id="csv-column-choice", storage_type="session"),
                dcc.Store(id="csv-max-bytes", data=limits.max_bytes),
                dcc.Store(id="csv-job"),
                dcc.Interval(id="csv-poll", interval=POLL_MS, disabled=True),
                wide=True,
            ),
        ],
        className="tab-body",
    )


def build(topic: str, start: str, model_version: str | None, limits: Limits, model_content: html.Div) -> html.Div:
    """The whole page."""
    return html.Div(
        [
            html.Header(
                [
                    html.Div(
                        [
                            html.H1("Review sentiment"),
                            html.Div(
                                f"topic {topic} · from {start} · model {model_version or 'not loaded'}",
                                className="subtitle",
                            ),
                        ]
                    ),
                    html.Div("connecting…", id="status-pill", className="pill info"),
                ],
                className="header",
            ),
            dcc.Location(id="url", refresh=False),
            html.Div(id="live-banner"),
            dcc.Tabs(
                id="tabs",
                value="live",
                children=[
                    dcc.Tab(label="Live", value="live", children=live_tab(), className="tab", selected_className="tab selected"),
                    dcc.Tab(label="Analyse", value="analyse", children=analyse_tab(limits), className="tab", selected_className="tab selected"),
                    dcc.Tab(label="Model", value="model", children=html.Div(model_content, className="tab-body"), className="tab", selected_className="tab selected"),
                ],
                className="tabs",
            ),
            dcc.Interval(id="live-tick", interval=REFRESH_MS),
        ],
        className="page",
    )
