"""Turn a Fleet into text, JSON, Markdown or one self-contained HTML page.  Decides nothing.

The HTML page has no external asset and no network access (a Content-Security-Policy of
``default-src 'none'`` with inline style and script only); its small script colours nothing
itself: it filters rows and records the colours the browser computed, so a headless browser's
DOM dump shows what a user would see.
"""
import html
import json

from .fleet import CREATE_PATHS, SCHEMA_VERSION
from .textout import join_lines, line as _text_line

WIDTH = 100
STATUS_WORDS = {"failed": "FAILED", "below-target": "BELOW TARGET", "stale": "STALE", "unknown": "UNKNOWN",
                "problems": "PROBLEMS", "behind-daemons": "BEHIND DAEMONS", "running-older": "RUNNING OLDER", "differs": "DIFFERS", "ok": "ok"}
SHORT = {"yes": "Y", "no": "n", "unknown": "?"}


def to_json(fleet):
    data = fleet.to_dict()
    assert data["schema_version"] == SCHEMA_VERSION
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def _wrap(text, indent, width=WIDTH):
    import textwrap
    text = _text_line(text)  # a newline inside a value is shown as \n, never wrapped into a line break
    return textwrap.wrap(text, width=width, initial_indent=indent, subsequent_indent=" " * len(indent),
                         break_on_hyphens=False, break_long_words=False) or [indent]


def _create_cell(host):
    if not host.capabilities:
        return "-"
    return "".join(SHORT.get(host.capabilities.get(c, "unknown"), "?") for c in CREATE_PATHS)


def _config_cell(host):
    conf = host.config_features or {}
    if conf.get("value") is None:
        return "-"
    text = str(conf["value"])
    if host.config_unknown:
        text += " ({} unknown)".format(len(host.config_unknown))
    return text


def _shown_problems(host):
    """Problem ids worth a column (errors and warnings; the JSON keeps every problem)."""
    return [p["id"] for p in host.problems if p["severity"] in ("error", "warning")]


def _header_lines(fleet):
    lines = []
    summary = fleet.summary
    lines.append("librbd_probe fleet: {} host{}, {} flagged".format(
        summary["hosts"], "" if summary["hosts"] == 1 else "s", summary["flagged"]))
    if fleet.majority and fleet.majority["tie"]:
        lines.extend(_wrap("no majority: {} tied with {} host{} each; the reference is the newest, {}".format(
            ", ".join(fleet.majority["tie"]), fleet.majority["hosts"], "" if fleet.majority["hosts"] == 1 else "s",
            fleet.majority["label"]), "  "))
    elif fleet.majority:
        lines.append("  majority: {} ({} of {} scanned hosts{})".format(
            fleet.majority["label"], fleet.majority["hosts"], fleet.majority["of"],
            ", unanimous" if fleet.majority["unanimous"] else ""))
    for target in fleet.targets:
        lines.extend(_wrap("target: {} ({})".format(target["version"], target["why"]), "  "))
    return lines


def fleet_text(fleet):
    lines = _header_lines(fleet)
    lines.append("")
    name_width = max([4] + [len(h.name) for h in fleet.hosts])
    rel_width = max([7] + [len(h.release_label or "-") for h in fleet.hosts])
    fmt = "  {:<%d} {:<14} {:<%d} {:<6} {:<8} {:<14} {}" % (name_width, rel_width)
    lines.append(fmt.format("HOST", "STATUS", "RELEASE", "CREATE", "FEATURES", "CONF FEATURES", "PROBLEMS"))
    for host in fleet.hosts:
        lines.append(fmt.format(host.name, STATUS_WORDS[host.status], host.release_label or "-", _create_cell(host),
                                "{}/{}".format(len(host.features_yes), len(host.features_yes) + len(host.features_no))
                                if host.capabilities else "-",
                                _config_cell(host), ",".join(_shown_problems(host)) or "-"))
    lines.append("  CREATE: {} (Y yes, n no, ? unknown)".format(", ".join(CREATE_PATHS)))
    flagged = fleet.flagged()
    if flagged:
        lines.append("")
        lines.append("Flagged hosts and their fix")
        for host in flagged:
            lines.append("  {} [{}]".format(host.name, STATUS_WORDS[host.status]))
            for reason in host.reasons:
                lines.extend(_wrap(reason, "    - "))
            for item in host.cluster_view:
                lines.extend(_wrap("the cluster sees: " + item, "    - "))
            for fix in host.fixes:
                lines.extend(_wrap("fix: " + fix, "      "))
    if fleet.non_uniform:
        lines.append("")
        lines.append("Capabilities that are not uniform")
        for cap in fleet.non_uniform:
            parts = []
            for status in ("yes", "no", "unknown"):
                hosts = cap["hosts"].get(status)
                if hosts:
                    parts.append("{} {}: {}".format(status, len(hosts), ", ".join(hosts[:8]) +
                                                    (" ..." if len(hosts) > 8 else "")))
            lines.extend(_wrap("; ".join(parts), "  {:<24} ".format(cap["id"])))
    if fleet.census is not None:
        lines.append("")
        lines.append("The cluster's view (monitor sessions, decoded by feature bits)")
        lines.append("  {} client session(s), {} matched to a host by address".format(
            fleet.census["clients"], fleet.census["matched"]))
        for host in fleet.hosts:
            for item in host.cluster_view:
                lines.extend(_wrap("{}: {}".format(host.name, item), "  "))
        for client in fleet.unmatched_clients:
            lines.extend(_wrap("no scanned host: " + (client.get("text") or client.get("entity") or "a client"), "  "))
    return join_lines(lines)


def _md(text):
    return str(text).replace("|", "\\|").replace("\n", " ")


def fleet_markdown(fleet):
    lines = ["# librbd_probe fleet", ""]
    lines.extend("- " + line.strip() for line in _header_lines(fleet))
    lines.append("")
    lines.append("| host | status | release | create ({}) | features known | rbd default features | problems | fix |"
                 .format(", ".join(c.split(".", 1)[1] for c in CREATE_PATHS)))
    lines.append("|---|---|---|---|---|---|---|---|")
    for host in fleet.hosts:
        status = STATUS_WORDS[host.status]
        if host.status != "ok":
            status = "**{}**".format(status)
        lines.append("| {} | {} | {} | `{}` | {} | {} | {} | {} |".format(
            _md(host.name), status, _md(host.release_label or "-"), _create_cell(host),
            len(host.features_yes) if host.capabilities else "-", _md(_config_cell(host)),
            _md(", ".join(_shown_problems(host)) or "-"), _md("; ".join(host.fixes) or "-")))
    if fleet.flagged():
        lines.append("")
        lines.append("## Flagged")
        for host in fleet.flagged():
            lines.append("")
            lines.append("### {} ({})".format(_md(host.name), STATUS_WORDS[host.status]))
            for reason in host.reasons:
                lines.append("- " + _md(reason))
            for item in host.cluster_view:
                lines.append("- the cluster sees: " + _md(item))
            for fix in host.fixes:
                lines.append("- **fix**: " + _md(fix))
    if fleet.non_uniform:
        lines.append("")
        lines.append("## Capabilities that are not uniform")
        lines.append("")
        lines.append("| capability | yes | no | unknown |")
        lines.append("|---|---|---|---|")
        for cap in fleet.non_uniform:
            lines.append("| `{}` | {} | {} | {} |".format(cap["id"], *[
                _md(", ".join(cap["hosts"].get(s, [])) or "-") for s in ("yes", "no", "unknown")]))
    return join_lines(lines)


_CSS = """
body { font: 14px/1.4 sans-serif; margin: 1.5em; color: #222; background: #fff; }
h1 { font-size: 1.4em; margin: 0 0 .3em; }
table { border-collapse: collapse; margin: .8em 0; }
th, td { border: 1px solid #bbb; padding: 3px 7px; text-align: left; vertical-align: top; }
th { background: #eee; }
th.cap { writing-mode: vertical-rl; transform: rotate(180deg); font-weight: normal; font-size: 12px; padding: 4px 2px; }
td.release, td.host { white-space: nowrap; }
td.cap { text-align: center; font-family: monospace; min-width: 1.6em; }
.cap-yes { background: #c8e6c9; }
.cap-no { background: #ffcdd2; }
.cap-unknown { background: #e0e0e0; }
tr.status-ok td.status { background: #a5d6a7; }
tr.status-differs td.status, tr.status-behind-daemons td.status { background: #fff59d; }
tr.status-problems td.status, tr.status-unknown td.status { background: #ffcc80; }
tr.status-stale td.status, tr.status-below-target td.status, tr.status-failed td.status, tr.status-running-older td.status { background: #ef5350; color: #fff; font-weight: bold; }
tr.flagged td.host { font-weight: bold; }
ul.reasons { margin: .2em 0 .8em; padding-left: 1.2em; }
.flagged-host h3 { font-size: 1.05em; margin: .8em 0 .2em; }
.flagged-host .fix { font-weight: bold; }
#filter-row { margin: .5em 0; }
.legend span { display: inline-block; padding: 1px 6px; margin-right: 4px; border: 1px solid #bbb; font-size: 12px; }
.legend .bad { background: #ef5350; color: #fff; } .legend .warn { background: #ffcc80; }
.legend .note { background: #fff59d; } .legend .good { background: #a5d6a7; }
.summary { color: #444; }
"""

_SCRIPT = """
(function () {
  var rows = document.querySelectorAll('tr.host-row');
  var flagged = 0;
  rows.forEach(function (row) {
    var cell = row.querySelector('td.status');
    row.setAttribute('data-computed-status-color', getComputedStyle(cell).backgroundColor);
    if (row.classList.contains('flagged')) { flagged++; }
  });
  document.body.setAttribute('data-flagged-count', String(flagged));
  document.body.setAttribute('data-script', 'ran');
  var box = document.getElementById('only-flagged');
  box.addEventListener('change', function () {
    rows.forEach(function (row) {
      row.style.display = (box.checked && !row.classList.contains('flagged')) ? 'none' : '';
    });
  });
})();
"""


def _e(text):
    return html.escape(str(text), quote=True)


def fleet_html(fleet):
    """One self-contained page: the grid coloured by status, reasons and fixes, non-uniform caps."""
    caps = sorted({c for h in fleet.hosts for c in h.capabilities},
                  key=lambda c: (not c.startswith("create."), c))
    out = ['<!DOCTYPE html>', '<html lang="en"><head><meta charset="utf-8">',
           '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
           'style-src \'unsafe-inline\'; script-src \'unsafe-inline\'">',
           '<title>librbd_probe fleet</title>', '<style>' + _CSS + '</style></head><body>',
           '<h1>librbd_probe fleet</h1>']
    out.append('<div class="summary">' + "<br>".join(_e(line.strip()) for line in _header_lines(fleet)) + '</div>')
    out.append('<div class="legend">status: <span class="bad">failed, below target, stale, running older</span>'
               '<span class="warn">unknown, problems</span><span class="note">behind daemons, differs</span>'
               '<span class="good">ok</span> &nbsp; capabilities: Y yes, n no, ? unknown</div>')
    out.append('<div id="filter-row"><label><input type="checkbox" id="only-flagged"> only flagged hosts</label></div>')
    out.append('<table id="fleet-grid"><thead><tr><th>host</th><th>status</th><th>release</th>'
               '<th>rbd default features</th>')
    for cap in caps:
        out.append('<th class="cap" title="{}">{}</th>'.format(_e(cap), _e(cap)))
    out.append('<th>problems</th></tr></thead><tbody>')
    for host in fleet.hosts:
        classes = "host-row status-" + host.status + (" flagged" if host.status != "ok" else "")
        out.append('<tr class="{}" id="host-{}" data-host="{}" data-status="{}">'.format(
            classes, _e(host.name), _e(host.name), _e(host.status)))
        name = _e(host.name)
        if host.status != "ok":
            name = '<a href="#why-{}">{}</a>'.format(_e(host.name), name)
        out.append('<td class="host">{}</td><td class="status">{}</td><td class="release">{}</td><td>{}</td>'.format(
            name, _e(STATUS_WORDS[host.status]), _e(host.release_label or "-"), _e(_config_cell(host))))
        for cap in caps:
            status = host.capabilities.get(cap)
            if status is None:
                out.append('<td class="cap"></td>')
            else:
                out.append('<td class="cap cap-{}" title="{}: {}">{}</td>'.format(
                    _e(status), _e(cap), _e(status), _e(SHORT.get(status, "?"))))
        out.append('<td class="problems">{}</td></tr>'.format(_e(", ".join(_shown_problems(host)) or "-")))
    out.append('</tbody></table>')
    flagged = fleet.flagged()
    if flagged:
        out.append('<h2>Flagged hosts and their fix</h2>')
        for host in flagged:
            out.append('<div class="flagged-host" id="why-{}"><h3>{} ({})</h3><ul class="reasons">'.format(
                _e(host.name), _e(host.name), _e(STATUS_WORDS[host.status])))
            items = ['<li>{}</li>'.format(_e(r)) for r in host.reasons]
            items += ['<li>the cluster sees: {}</li>'.format(_e(v)) for v in host.cluster_view]
            items += ['<li class="fix">fix: {}</li>'.format(_e(f)) for f in host.fixes]
            out.append("".join(items) + '</ul></div>')
    out.append('</tbody></table>')
    if fleet.non_uniform:
        out.append('<h2>Capabilities that are not uniform</h2><table id="non-uniform"><thead><tr>'
                   '<th>capability</th><th>yes</th><th>no</th><th>unknown</th></tr></thead><tbody>')
        for cap in fleet.non_uniform:
            out.append('<tr><td>{}</td>{}</tr>'.format(_e(cap["id"]), "".join(
                '<td>{}</td>'.format(_e(", ".join(cap["hosts"].get(s, [])) or "-")) for s in ("yes", "no", "unknown"))))
        out.append('</tbody></table>')
    if fleet.census is not None:
        out.append('<h2>The cluster\'s view</h2><ul id="census">')
        for host in fleet.hosts:
            for item in host.cluster_view:
                out.append('<li>{}: {}</li>'.format(_e(host.name), _e(item)))
        for client in fleet.unmatched_clients:
            out.append('<li>no scanned host: {}</li>'.format(_e(client.get("text") or client.get("entity") or "a client")))
        out.append('</ul>')
    out.append('<script>' + _SCRIPT + '</script></body></html>')
    return "\n".join(out) + "\n"
