"""``rmi``: untag, then delete what nothing else needs (Moby's ``daemon/images/image_delete.go``).

The rules, as Docker's:

* Named by a reference (``repo:tag``): that reference goes first. If the image
  keeps other references, that is all. Removing the *last* reference of an image
  a container uses is refused (409) unless forced.
* Named by ID: with ``force``, every reference goes; without it, an image tagged
  in several repositories is refused (409).
* Deleting: an image with child images is never deleted (409, cannot be forced;
  named by a reference, it is only untagged, quietly, as Docker does);
  nor is one a *running* container uses. One a stopped container uses needs
  ``force``, and its layers stay until that container is removed (the container
  holds a reference on them).
* Layers go only when no other image, layer or container uses them; each removed
  layer is reported as ``Deleted: <chain ID>``.
* ``prune`` (default): parents left untagged and unused are deleted too.
"""

from __future__ import annotations

from dataclasses import dataclass

from berth.errors import Conflict, InvalidArgument
from berth.images import reference as refs
from berth.images.store import ImageStore


@dataclass
class ContainerUse:
    """A container as far as ``rmi`` cares: its id, its image, and whether it runs."""

    id: str
    image_id: str
    running: bool


def delete_image(store: ImageStore, name: str, containers: list[ContainerUse], force: bool = False,
                 prune: bool = True) -> list[dict[str, str]]:
    """Remove ``name`` as ``DELETE /images/{name}`` does; return Docker's ``[{"Untagged"|"Deleted": ...}]``."""
    image_id = store.resolve(name)
    image = store.get(image_id)
    records: list[dict[str, str]] = []
    users = [c for c in containers if c.image_id == image_id]
    references = image.repo_tags + image.repo_digests
    ref = _reference_of(name)
    if ref in references:  # resolved as a reference, not as an ID prefix
        if len(references) == 1 and users and not force:
            c = users[0]
            raise Conflict(f'conflict: unable to remove repository reference "{name}" (must force) - container '
                           f"{c.id[:12]} is using its referenced image {image.short_id}")
        store.untag(ref)
        records.append({"Untagged": ref})
        remaining = _drop_orphaned_digests(store, ref, [r for r in references if r != ref], records)
        if remaining:
            return records
        try:
            _check_delete(store, image_id, image.short_id, users, force, [])
        except Conflict:
            return records  # as Docker: the untag was the request; the image stays, untagged
    else:
        _check_delete(store, image_id, image.short_id, users, force, references)
        if force or _one_repository(references):
            for ref in references:
                store.untag(ref)
                records.append({"Untagged": ref})
    _check_delete(store, image_id, image.short_id, users, force, [])
    _delete_chain(store, image_id, containers, prune, records)
    return records


def _drop_orphaned_digests(store: ImageStore, removed: str, remaining: list[str],
                           records: list[dict[str, str]]) -> list[str]:
    """A tag went and its repository has no other tag on the image: its ``repo@digest`` references go too
    (Docker's rule, so that ``rmi repo:tag`` of a pulled image deletes it). Returns what remains."""
    repository = refs.parse(removed).name
    if "@" in removed or any("@" not in r and refs.parse(r).name == repository for r in remaining):
        return remaining
    kept = []
    for other in remaining:
        if "@" in other and refs.parse(other).name == repository:
            store.untag(other)
            records.append({"Untagged": other})
        else:
            kept.append(other)
    return kept


def _reference_of(name: str) -> str | None:
    try:
        return str(refs.parse(name))
    except InvalidArgument:
        return None


def _one_repository(references: list[str]) -> bool:
    """Docker removes every reference of an ID-named image when they are one repository and at most one tag."""
    repos = {refs.parse(r).familiar_name for r in references}
    tags = [r for r in references if "@" not in r]
    return len(repos) <= 1 and len(tags) <= 1


def _check_delete(store: ImageStore, image_id: str, short: str, users: list[ContainerUse], force: bool,
                  references: list[str]) -> None:
    if store.children(image_id):
        raise Conflict(f"conflict: unable to delete {short} (cannot be forced) - image has dependent child images")
    running = [c for c in users if c.running]
    if running:
        raise Conflict(f"conflict: unable to delete {short} (cannot be forced) - image is being used by running "
                       f"container {running[0].id[:12]}")
    if force:
        return
    if references and not _one_repository(references):
        raise Conflict(f"conflict: unable to delete {short} (must be forced) - image is referenced in multiple repositories")
    if users:
        raise Conflict(f"conflict: unable to delete {short} (must be forced) - image is being used by stopped "
                       f"container {users[0].id[:12]}")


def _delete_chain(store: ImageStore, image_id: str, containers: list[ContainerUse], prune: bool,
                  records: list[dict[str, str]]) -> None:
    while image_id:
        parent = store.get(image_id).parent
        removed_layers = store.delete(image_id)
        records.append({"Deleted": image_id})
        records.extend({"Deleted": chain} for chain in removed_layers)
        if not prune or not parent:
            return
        try:
            parent_image = store.get(parent)
        except Exception:
            return
        if parent_image.repo_tags or parent_image.repo_digests or store.children(parent) \
                or any(c.image_id == parent for c in containers):
            return
        image_id = parent
