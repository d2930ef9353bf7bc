"""The plan step on a real containerd, and the `docker load` backend on a real dockerd."""

from __future__ import annotations

from pathlib import Path

import pytest
from imagegen import make_image_archive

from installer.bundle.importer import DockerStore, ImageImporter, items_from_manifest
from installer.bundle.manifest import load_manifest, save_manifest
from installer.bundle.scan import lock_bundle
from installer.bundle.step import ImportImagesStep
from installer.config.profile import Profile
from installer.engine.commands import RealRunner
from installer.engine.events import CollectingSink, ItemFinished
from installer.engine.files import FileWriter
from installer.engine.plan import StepContext
from installer.errors import BundleError


def _bundle(tmp_path: Path) -> Path:
    folder = tmp_path / "bundle"
    make_image_archive(folder / "images" / "pause.tar", "registry.k8s.io/pause:3.10", seed=1)
    make_image_archive(folder / "images" / "hub.tar", "quay.io/jupyterhub/k8s-hub:4.2.0", seed=2)
    make_image_archive(folder / "images" / "other.tar", "example.org/not/needed:1", seed=3)
    save_manifest(lock_bundle(folder, known_refs={"registry.k8s.io/pause:3.10": "microk8s",
                                                  "quay.io/jupyterhub/k8s-hub:4.2.0": "jupyterhub"}), folder)
    return folder


@pytest.mark.containerd
def test_step_imports_only_the_chosen_components(clean_containerd, tmp_path: Path) -> None:
    """`ImportImagesStep(["microk8s"])` imports MicroK8s's images only, then reports itself done."""
    folder = _bundle(tmp_path)
    sink = CollectingSink()
    ctx = StepContext(runner=RealRunner(sink), files=FileWriter(sink), sink=sink,
                      profile=Profile(bundle=folder), state_dir=tmp_path / "state", step_id="import-images")
    step = ImportImagesStep(["microk8s"], socket=clean_containerd.socket, namespace=clean_containerd.namespace,
                            ctr="ctr")
    assert step.is_done(ctx) is False
    step.run(ctx)
    assert clean_containerd.images() == ["registry.k8s.io/pause:3.10"]
    assert [e.item for e in sink.of(ItemFinished)] == ["images/pause.tar"]
    assert step.is_done(ctx) is True


@pytest.mark.containerd
def test_step_raises_naming_the_bad_file(clean_containerd, tmp_path: Path) -> None:
    """A checksum mismatch makes the step fail with a BundleError listing the file."""
    folder = _bundle(tmp_path)
    hub = folder / "images" / "hub.tar"
    data = bytearray(hub.read_bytes())
    data[4000] ^= 1
    hub.write_bytes(bytes(data))
    sink = CollectingSink()
    ctx = StepContext(runner=RealRunner(sink), files=FileWriter(sink), sink=sink,
                      profile=Profile(bundle=folder), state_dir=tmp_path / "state")
    step = ImportImagesStep(["microk8s", "jupyterhub"], socket=clean_containerd.socket, ctr="ctr")
    with pytest.raises(BundleError, match=r"images/hub\.tar: sha256 mismatch"):
        step.run(ctx)
    assert clean_containerd.images() == ["registry.k8s.io/pause:3.10"]


@pytest.mark.dockerd
def test_docker_load_backend_imports_and_skips(dockerd, tmp_path: Path) -> None:
    """`docker load` receives the decompressed stream; a second run skips by image ID."""
    folder = _bundle(tmp_path)
    items = items_from_manifest(folder, load_manifest(folder).images(["microk8s"]))
    store = DockerStore(RealRunner(), host=dockerd.url)
    first = ImageImporter(store).run(items)
    assert [r.status for r in first.results] == ["ok"], [r.reason for r in first.results]
    second = ImageImporter(store).run(items)
    assert [r.status for r in second.results] == ["skipped"]
    image = dockerd.client.images.get("registry.k8s.io/pause:3.10")
    assert image.id == items[0].images[0].digest


def _microk8s_template(host: Path, sandbox: str) -> Path:
    """A host root whose MicroK8s containerd template names ``sandbox`` as the pause image."""
    template = host / "var/snap/microk8s/current/args/containerd-template.toml"
    template.parent.mkdir(parents=True)
    template.write_text(f'version = 2\n[plugins."io.containerd.grpc.v1.cri"]\n  sandbox_image = "{sandbox}"\n')
    return host


@pytest.mark.containerd
def test_a_pause_image_microk8s_uses_but_nobody_has_stops_the_step(clean_containerd, tmp_path: Path) -> None:
    """The installed MicroK8s names another pause tag than the bundle carries: a clear stop, not a hung pod."""
    folder = _bundle(tmp_path)
    sink = CollectingSink()
    host = _microk8s_template(tmp_path / "host", "k8s.gcr.io/pause:3.99")
    ctx = StepContext(runner=RealRunner(sink), files=FileWriter(sink), sink=sink, profile=Profile(bundle=folder),
                      state_dir=tmp_path / "state", host_root=host)
    step = ImportImagesStep(["microk8s"], socket=clean_containerd.socket, namespace=clean_containerd.namespace,
                            ctr="ctr")
    with pytest.raises(BundleError) as caught:
        step.run(ctx)
    assert "k8s.gcr.io/pause:3.99" in caught.value.message
    assert "/var/snap/microk8s/current/args/containerd-template.toml" in caught.value.message
    assert "the bundle holds registry.k8s.io/pause:3.10" in caught.value.message
    assert "--image k8s.gcr.io/pause:3.99" in caught.value.hint
    assert clean_containerd.images() == ["registry.k8s.io/pause:3.10"]  # what the bundle had is imported anyway
    assert step.is_done(ctx) is False  # a re-run stops again instead of skipping the step

    # Once containerd has it (imported by hand, or from a fixed bundle), the step is done.
    make_image_archive(tmp_path / "pause-399.tar", "k8s.gcr.io/pause:3.99", seed=7)
    clean_containerd.ctr("images", "import", str(tmp_path / "pause-399.tar"))
    assert step.is_done(ctx) is True
    step.run(ctx)


@pytest.mark.containerd
def test_the_pause_image_the_bundle_carries_passes(clean_containerd, tmp_path: Path) -> None:
    folder = _bundle(tmp_path)
    sink = CollectingSink()
    ctx = StepContext(runner=RealRunner(sink), files=FileWriter(sink), sink=sink, profile=Profile(bundle=folder),
                      state_dir=tmp_path / "state",
                      host_root=_microk8s_template(tmp_path / "host", "registry.k8s.io/pause:3.10"))
    step = ImportImagesStep(["microk8s"], socket=clean_containerd.socket, namespace=clean_containerd.namespace,
                            ctr="ctr")
    step.run(ctx)
    assert step.is_done(ctx) is True


@pytest.mark.containerd
def test_images_filed_under_extra_are_imported_when_something_needs_them(clean_containerd, tmp_path: Path) -> None:
    """A catalog image exported with --image and the pause image MicroK8s names land in `extra`: still imported."""
    from installer.components.jupyterhub.settings import JupyterHubSettings, NotebookImage

    folder = _bundle(tmp_path)
    make_image_archive(folder / "images" / "torch.tar", "quay.io/lab/torch:1", seed=4)
    make_image_archive(folder / "images" / "pause-399.tar", "k8s.gcr.io/pause:3.99", seed=5)
    (folder / "manifest.yaml").unlink()
    save_manifest(lock_bundle(folder, known_refs={"registry.k8s.io/pause:3.10": "microk8s",
                                                  "quay.io/jupyterhub/k8s-hub:4.2.0": "jupyterhub"}), folder)
    catalog = [NotebookImage(name="torch", display_name="Torch", image="quay.io/lab/torch:1")]
    sink = CollectingSink()
    ctx = StepContext(runner=RealRunner(sink), files=FileWriter(sink), sink=sink,
                      profile=Profile(bundle=folder, jupyterhub=JupyterHubSettings(images=catalog)),
                      state_dir=tmp_path / "state",
                      host_root=_microk8s_template(tmp_path / "host", "k8s.gcr.io/pause:3.99"))
    step = ImportImagesStep(["microk8s", "jupyterhub"], socket=clean_containerd.socket,
                            namespace=clean_containerd.namespace, ctr="ctr")
    step.run(ctx)
    # example.org/not/needed:1 is in `extra` too, but nothing needs it: it stays out.
    assert clean_containerd.images() == ["k8s.gcr.io/pause:3.99", "quay.io/jupyterhub/k8s-hub:4.2.0",
                                         "quay.io/lab/torch:1", "registry.k8s.io/pause:3.10"]
    assert step.is_done(ctx) is True
