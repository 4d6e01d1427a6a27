"""``commit`` in every container state, as dockerd: pause only applies to a running container."""

from __future__ import annotations


def _read(sdk, image_id: str, path: str) -> bytes:
    return sdk.containers.run(image_id, ["cat", path], remove=True)


def test_commit_of_a_stopped_container_keeps_its_changes(sdk):
    container = sdk.containers.run("busybox", ["sh", "-c", "echo stopped > /note"], detach=True)
    try:
        container.wait(timeout=30)
        image = container.commit()  # pause=true, docker-py's default
        try:
            assert _read(sdk, image.id, "/note") == b"stopped\n"
        finally:
            sdk.images.remove(image.id)
        container.reload()
        assert container.status == "exited"
    finally:
        container.remove(force=True)


def test_commit_of_a_created_container_is_an_image_of_its_unchanged_tree(sdk):
    container = sdk.containers.create("busybox", ["true"])
    try:
        image = container.commit(repository="never-started")
        try:
            assert _read(sdk, "never-started", "/etc/passwd").startswith(b"root:")
        finally:
            sdk.images.remove(image.id)
        container.reload()
        assert container.status == "created"
    finally:
        container.remove(force=True)


def test_commit_pauses_a_running_container_and_resumes_it(sdk):
    container = sdk.containers.run("busybox", ["sh", "-c", "echo live > /note; sleep 1000"], detach=True)
    try:
        image = container.commit()
        try:
            container.reload()
            assert container.status == "running"
        finally:
            sdk.images.remove(image.id)
    finally:
        container.remove(force=True)


def test_commit_of_a_paused_container_leaves_it_paused(sdk):
    container = sdk.containers.run("busybox", ["sleep", "1000"], detach=True)
    try:
        container.pause()
        image = container.commit()
        sdk.images.remove(image.id)
        container.reload()
        assert container.status == "paused"
    finally:
        container.remove(force=True)
