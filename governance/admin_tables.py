"""Small read-only tables and links of the governance admin pages (escaped)."""

import json
from collections.abc import Iterable, Mapping
from typing import Any

from django.template.loader import render_to_string
from django.urls import reverse

from governance.models import (
    PromotionRequest,
)

Link = dict[str, str]


def render_part(name: str, context: Mapping[str, Any]) -> str:
    """One of the small admin tables in `admin/governance/_<name>.html` (escaped)."""
    return render_to_string(f"admin/governance/_{name}.html", dict(context))


def raw_json(value: Any) -> str:
    """The stored JSON, collapsed: the tables above it are what a reader reads."""
    text = json.dumps(value, indent=2, default=str, sort_keys=True)
    return render_part("raw_json", {"text": text, "size": len(text)})


def links_table(groups: Iterable[tuple[str, list[Link]]]) -> str:
    return render_part(
        "links", {"groups": [{"label": g, "links": links} for g, links in groups]}
    )


def segment_table(rows: list[dict[str, Any]], note: str = "") -> str:
    return render_part("segments", {"rows": rows, "note": note})


def admin_link(model: str, pk: Any, text: str) -> Link:
    return {"text": text, "url": reverse(f"admin:governance_{model}_change", args=[pk])}


def comparison_link(champion: Any, challenger: Any) -> list[Link]:
    if not champion or not challenger:
        return []
    url = reverse("evaluation_runs:comparison")
    query = f"?champion={champion}&challenger={challenger}"
    links: list[Link] = []
    if champion != challenger:  # a run compared with itself has nothing to show
        page = f"{reverse('evaluation:comparison')}?a={champion}&b={challenger}"
        links.append({"text": f"run {champion} vs run {challenger}", "url": page})
    return [
        *links,
        {"text": f"run {champion} vs run {challenger} (JSON)", "url": url + query},
        {"text": "Markdown", "url": f"{url}{query}&format=md"},
    ]


def _row(name: Any, block: Mapping[str, Any]) -> dict[str, Any]:
    champion = block.get("champion")
    challenger = block.get("challenger", block.get("candidate"))
    delta = None
    if isinstance(champion, int | float) and isinstance(challenger, int | float):
        delta = challenger - champion
    n = block.get("n")
    return {
        "segment": name,
        "champion": champion,
        "challenger": challenger,
        "delta": delta,
        "n": n,
        "champion_n": block.get("champion_n", n),
    }


def summary_rows(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    """An entry's evaluation summary (execution accuracy) as table rows.

    A decision stores `overall` and `segments` by name; an outcome stores the
    review page's rows (`segment`, `champion`, `candidate`, `n`) as a list.
    """
    segments = summary.get("segments") or {}
    if isinstance(segments, list):
        return [
            _row(block.get("segment"), block)
            for block in segments
            if isinstance(block, Mapping)
        ]
    named = [("overall", summary.get("overall"))]
    named += sorted(segments.items())
    return [
        _row(name, block)
        for name, block in named
        if isinstance(block, Mapping) and "champion" in block
    ]


def review_links(obj: PromotionRequest) -> dict[str, str]:
    """Where the review page points: the decision, the prompt diff against the
    pair in production (its parent without a champion run) and the comparison."""
    diff = reverse("registry:prompt-version-diff", args=[obj.prompt_version_id])
    champion = obj.champion_run
    if champion is not None and champion.prompt_version_id != obj.prompt_version_id:
        diff += f"?against={champion.prompt_version_id}"
    links = {
        "decision": reverse("governance:decision-detail", args=[obj.decision.sequence]),
        "prompt_diff": diff,
    }
    if champion is not None and obj.candidate_run_id is not None:
        links["comparison"] = (
            reverse("evaluation_runs:comparison")
            + f"?champion={champion.pk}&challenger={obj.candidate_run_id}"
        )
        if champion.pk != obj.candidate_run_id:
            links["comparison_page"] = (
                reverse("evaluation:comparison")
                + f"?a={champion.pk}&b={obj.candidate_run_id}"
            )
    return links
