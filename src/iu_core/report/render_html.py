"""A report as one self-contained HTML page: inline CSS, no script, nothing fetched, printable.

Rendered with jinja2 and autoescape on: every piece of user text (titles,
labels, headings, actors) is escaped. The template lives here as a string so
the page needs no packaged template file.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from iu_core.report.model import Report
from iu_core.report.render_md import TOUCHED_SHOWN, short, when

if TYPE_CHECKING:
    import jinja2

TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="iu-core report">
<title>{{ u.code }} — {{ u.title }} · structure report</title>
<style>
:root { color-scheme: light; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif;
       color: #1b1f24; background: #fff; margin: 2rem auto; max-width: 60rem; padding: 0 1.25rem; }
h1 { font-size: 1.6rem; margin: 0 0 .75rem; }
h2 { font-size: 1.2rem; border-bottom: 1px solid #d0d7de; padding-bottom: .25rem; margin-top: 2rem; }
h3 { font-size: 1rem; margin-bottom: .25rem; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; vertical-align: top; padding: .3rem .5rem; border-bottom: 1px solid #eaeef2; }
th { font-weight: 600; white-space: nowrap; }
table.facts th { width: 9rem; color: #57606a; }
code, .id { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .85em; }
.id { color: #6e7781; }
td, li, code, .id { overflow-wrap: anywhere; }  /* ids and eids never widen a 390 px screen */
ol.outline { list-style: none; padding: 0; margin: 0; }
ol.outline li { padding: .1rem 0; border-left: 2px solid #eaeef2; padding-left: .5rem; }
.kind { color: #57606a; font-size: .85em; }
.deprecated, .deprecated .label { color: #8c959f; text-decoration: line-through; }
.badge { font-size: .75em; border: 1px solid #d0d7de; border-radius: .6em; padding: 0 .45em;
         text-decoration: none; display: inline-block; color: #57606a; }
ul.touched { margin: .2rem 0 0; padding-left: 1.1rem; font-size: .9em; }
.arrow { color: #57606a; }
.none { color: #57606a; font-style: italic; }
footer { margin-top: 2rem; color: #57606a; font-size: .85em; }
@media print {
  body { margin: 0; max-width: none; font-size: 10.5pt; }
  h2 { break-after: avoid; }
  tr, li { break-inside: avoid; }
  a { color: inherit; text-decoration: none; }
}
</style>
</head>
<body>
<header>
<h1>{{ u.code }} — {{ u.title }}</h1>
<table class="facts">
<tr><th>Code</th><td>{{ u.code }}</td></tr>
<tr><th>Title</th><td>{{ u.title }}</td></tr>
<tr><th>Status</th><td>{{ u.status }}</td></tr>
<tr><th>Pieces</th><td>{{ c.active_pieces }} active, {{ c.deprecated_pieces }} deprecated</td></tr>
<tr><th>Operations</th><td>{{ c.operations }}</td></tr>
<tr><th>Relations</th><td>{{ c.relations_out }} outgoing, {{ c.relations_in }} incoming</td></tr>
<tr><th>Generated</th><td>{{ generated }} from
{%- if event %} event #{{ event.event_seq }} (<code>{{ event.event_type }}</code>,
<span class="id">{{ event.event_id }}</span>){% else %} no event yet{% endif %}</td></tr>
</table>
</header>
<main>
<section id="outline">
<h2>Outline</h2>
<ol class="outline">
{%- for e in outline %}
<li style="margin-left: {{ e.depth * 1.25 }}rem"{% if not e.piece.active %} class="deprecated"{% endif %}>
<span class="label"><strong>{{ e.piece.label }}</strong>
{{ e.piece.heading if e.piece.label else e.title }}</span>
<span class="kind">{{ e.piece.kind }}</span>
{%- if e.piece.eid and e.piece.parent_piece_id %} <code class="eid">{{ e.piece.eid }}</code>{% endif %}
<span class="id">{{ short(e.piece.piece_id) }}</span>
{%- if not e.piece.active %} <span class="badge">deprecated</span>{% endif %}</li>
{%- endfor %}
</ol>
</section>
<section id="history">
<h2>History</h2>
{%- if history %}
<table class="history">
<thead><tr><th>#</th><th>When</th><th>Who</th><th>Operation</th><th>What</th></tr></thead>
<tbody>
{%- for h in history %}
<tr>
<td>{{ loop.index }}</td><td>{{ when(h.operation.applied_at) }}</td><td>{{ h.operation.actor }}</td>
<td><strong>{{ h.operation.operation_type }}</strong></td>
<td>{{ h.summary }}
{%- if h.touched %}
<ul class="touched">
{%- for t in h.touched[:shown] %}
<li><span class="id">{{ short(t.piece_id) }}</span>
{% if t.before is none %}<span class="none">(new)</span> <span class="arrow">→</span> {{ name(t.after) }}
{%- elif t.before == t.after %}{{ name(t.after) }}
{%- else %}{{ name(t.before) }} <span class="arrow">→</span> {{ name(t.after) }}{% endif %}</li>
{%- endfor %}
{%- if h.touched|length > shown %}<li class="none">… and {{ h.touched|length - shown }} more</li>{% endif %}
</ul>
{%- endif %}</td>
</tr>
{%- endfor %}
</tbody>
</table>
{%- else %}
<p class="none">No structure operation yet.</p>
{%- endif %}
</section>
<section id="relations">
<h2>Relations</h2>
{%- for heading, relations, arrow in [("Outgoing", relations_out, "→"), ("Incoming", relations_in, "←")] %}
<h3>{{ heading }}</h3>
{%- if relations %}
<ul>
{%- for r in relations %}
<li>{{ r.relation_type }} {{ arrow }} <strong>{{ r.code }}</strong> {{ r.title }}
<span class="kind">(by {{ r.actor }}, {{ when(r.created_at) }})</span></li>
{%- endfor %}
</ul>
{%- else %}
<p class="none">None.</p>
{%- endif %}
{%- endfor %}
</section>
<section id="citations">
<h2>Citations</h2>
{%- for heading, citations in [("Outgoing", citations_out), ("Incoming", citations_in)] %}
<h3>{{ heading }}</h3>
{%- if citations %}
<ul>
{%- for c in citations %}
<li>
{%- if heading == "Incoming" %}<strong>{{ c.code }}</strong> {% endif -%}
<code>{{ c.from_eid or "?" }}</code> “{{ c.text }}” →
{%- if heading == "Outgoing" and c.code and c.code != u.code %} <strong>{{ c.code }}</strong>{% endif %}
<code>{{ c.eid or "(the unit)" }}</code>
{%- if c.unresolved %} <span class="kind">({{ c.unresolved }})</span>{% endif %}</li>
{%- endfor %}
</ul>
{%- else %}
<p class="none">None.</p>
{%- endif %}
{%- endfor %}
</section>
</main>
<footer>Structure report of {{ u.code }}, generated by iu-core.</footer>
</body>
</html>
"""


@cache
def _template() -> jinja2.Template:
    import jinja2  # loaded with the first HTML report, not with every command

    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    return env.from_string(TEMPLATE)


def _name(name: object) -> str:
    if name is None:
        return "(gone)"
    title = getattr(name, "title", "")
    return f"{title} (deprecated)" if getattr(name, "status", "") == "deprecated" else str(title)


def render_html(report: Report, generated: str) -> str:
    """The HTML page; ``generated`` is the generation time as shown."""
    return _template().render(
        u=report.data.unit,
        c=report.counts,
        event=report.data.last_event,
        generated=generated,
        outline=report.outline,
        history=report.history,
        relations_out=report.relations_out,
        relations_in=report.relations_in,
        citations_out=report.citations_out,
        citations_in=report.citations_in,
        shown=TOUCHED_SHOWN,
        short=short,
        when=when,
        name=_name,
    )
