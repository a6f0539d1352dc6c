"""Hypothesis strategies for tool names that try to reach someone else's connection."""

from __future__ import annotations

from hypothesis import strategies as st

TARGET_SLUG = "secret"
TOOLS = ("core_list_projects", "connection_unavailable", "core_get_identity_ids")
LOOKALIKES = {
    "e": ["\u0435", "\u00e9", "\u0117"],  # Cyrillic e, e-acute, e-dot
    "c": ["\u0441", "\u00e7"],
    "r": ["\u0433"],
    "t": ["\u0442"],
    "s": ["\u0455", "\u017f"],  # Cyrillic dze, long s
    "_": ["\uff3f", "\u2017"],
}


def _case_variants(slug: str) -> st.SearchStrategy[str]:
    return st.lists(st.booleans(), min_size=len(slug), max_size=len(slug)).map(
        lambda flags: "".join(c.upper() if f else c for c, f in zip(slug, flags, strict=True))
    )


def _lookalike(slug: str) -> st.SearchStrategy[str]:
    positions = [i for i, c in enumerate(slug) if c in LOOKALIKES]
    return st.sampled_from(positions).flatmap(
        lambda i: st.sampled_from(LOOKALIKES[slug[i]]).map(lambda ch: slug[:i] + ch + slug[i + 1 :])
    )


def name_tricks() -> st.SearchStrategy[str]:
    slug = st.one_of(
        st.just(TARGET_SLUG),
        _case_variants(TARGET_SLUG),
        _lookalike(TARGET_SLUG),
        st.sampled_from(
            [
                f"../{TARGET_SLUG}",
                f"work/../{TARGET_SLUG}",
                f"{TARGET_SLUG}%5f",
                f" {TARGET_SLUG}",
                f"{TARGET_SLUG}\x00",
                f"{TARGET_SLUG}-",
                f"work__{TARGET_SLUG}",
                TARGET_SLUG * 20,
                "",
            ]
        ),
    )
    separator = st.sampled_from(["__", "___", "_", "__ ", "\uff3f\uff3f", "::", "/", "."])
    tool = st.one_of(st.sampled_from(TOOLS), st.text(max_size=80))
    return st.tuples(slug, separator, tool).map("".join)
