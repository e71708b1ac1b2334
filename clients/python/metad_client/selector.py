"""Label and attribute selectors (ListRunsRequest.label_selector,
ListFilesRequest.attribute_selector and the watch requests'): "k=v,k2" means
k holds exactly v AND k2 is present.

    selector({"env": "prod", "git_sha": None})  ->  'env=prod,git_sha'

Values (and keys) are escaped: ',', '=', '\\' and spaces at either end get
a '\\', so any attribute can be matched.
"""

__all__ = ["selector"]


def _escape(text):
    out = "".join("\\" + c if c in ",=\\" else c for c in text)
    # Spaces around a term are ignored by the daemon unless escaped.
    if out.startswith(" "):
        out = "\\" + out
    if out.endswith(" ") and not out.endswith("\\ "):
        out = out[:-1] + "\\ "
    return out


def selector(terms):
    """The selector string of `terms`: None or "" -> "" (no filter); a str
    is passed as written; a dict maps each key to its value, or to None for
    "key exists"."""
    if not terms:
        return ""
    if isinstance(terms, str):
        return terms
    parts = []
    for key, value in terms.items():
        parts.append(_escape(key) if value is None
                     else _escape(key) + "=" + _escape(str(value)))
    return ",".join(parts)
