"""`eiip import-weights` and `train.py init_from=`: release state dicts with the releases' exact key
names and shapes (random tensors) convert, load strictly and inpaint; bad files give one line."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from eiip.choices import RELEASES
from eiip.cli import main
from eiip.color import rgb_to_mono
from eiip.data.samples import load_sample_photo
from eiip.errors import InputError
from eiip.external.init_from import initialize_from
from eiip.external.module import ExternalInpainter
from eiip.external.releases import RELEASES as RELEASE_READERS
from eiip.external.releases import import_release
from eiip.external.releases.checkpoint import train_config
from eiip.external.releases.edgeconnect import modernize_spectral_norm, release_name
from eiip.external.training import build_model, train
from eiip.io import read_image
from eiip.pipeline import CheckpointStage
from test_inpaint_cli import photo_files
from test_train import sample_shards, small_run  # noqa: F401  (sample_shards: a fixture)

# ---------------------------------------------------------------------------------------------
# The releases' layers, transcribed from their code: (name, in, out, kernel, bias, spectral, transposed)
# ---------------------------------------------------------------------------------------------


def edgeconnect_generator_layers(in_channels: int, out_channels: int, sn: bool) -> list[tuple]:
    """knazeri/edge-connect src/networks.py EdgeGenerator (sn) / InpaintGenerator: Sequential indices."""
    layers = [("encoder.1", in_channels, 64, 7, True, sn, False), ("encoder.4", 64, 128, 4, True, sn, False),
              ("encoder.7", 128, 256, 4, True, sn, False)]
    for block in range(8):  # ResnetBlock(256, 2): convs at conv_block.1 and .5, no bias under spectral norm
        layers += [(f"middle.{block}.conv_block.{i}", 256, 256, 3, not sn, sn, False) for i in (1, 5)]
    layers += [("decoder.0", 256, 128, 4, True, sn, True), ("decoder.3", 128, 64, 4, True, sn, True),
               ("decoder.7", 64, out_channels, 7, True, False, False)]
    return layers


def edgeconnect_discriminator_layers(in_channels: int) -> list[tuple]:
    """edge-connect Discriminator: conv{1..5}.0, spectral norm, no bias."""
    widths = [in_channels, 64, 128, 256, 512, 1]
    return [(f"conv{i + 1}.0", widths[i], widths[i + 1], 4, False, True, False) for i in range(5)]


def gmcnn_layers() -> list[tuple]:
    """shepnerd/inpainting_gmcnn pytorch/model/net.py GMCNN(in_channels=4, out_channels=3, cnum=32)."""
    c = 32
    trunk = [(4, c), (c, 2 * c), (2 * c, 2 * c), (2 * c, 4 * c)] + [(4 * c, 4 * c)] * 8
    tails = {1: {}, 2: {13: (4 * c, 2 * c), 14: (2 * c, 2 * c)},
             3: {13: (4 * c, 2 * c), 14: (2 * c, 2 * c), 16: (2 * c, c), 17: (c, c)}}
    layers = []
    for column, kernel in ((1, 7), (2, 5), (3, 3)):
        convs = dict(enumerate(trunk)) | tails[column]
        layers += [(f"EB{column}.{i}", cin, cout, kernel, True, False, False) for i, (cin, cout) in convs.items()]
    return layers + [("decoding_layers.0", 7 * c, c // 2, 3, True, False, False),
                     ("decoding_layers.1", c // 2, 3, 3, True, False, False)]


def release_state(layers: list[tuple], old_spectral_norm: bool = False, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random tensors under the release's key names (PyTorch >= 1.1 spectral norm, or 0.4's with `weight`)."""
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for name, cin, cout, k, bias, sn, transposed in layers:
        shape = (cin, cout, k, k) if transposed else (cout, cin, k, k)
        weight = torch.randn(shape, generator=generator) * 0.02
        if sn:
            state[f"{name}.weight_orig"] = weight
            state[f"{name}.weight_u"] = nn.functional.normalize(torch.randn(cout, generator=generator), dim=0)
            if old_spectral_norm:
                state[f"{name}.weight"] = weight / 3.0
            else:
                state[f"{name}.weight_v"] = nn.functional.normalize(torch.randn(cin * k * k, generator=generator), dim=0)
        else:
            state[f"{name}.weight"] = weight
        if bias:
            state[f"{name}.bias"] = torch.randn(cout, generator=generator) * 0.01
    return state


def parameter_count(layers: list[tuple]) -> int:
    return sum(cin * cout * k * k + (cout if bias else 0) for _, cin, cout, k, bias, _, _ in layers)


def write_edgeconnect(folder: Path, discriminators: bool = True) -> Path:
    """A release checkpoint folder as `src/models.py` saves it."""
    folder.mkdir(parents=True, exist_ok=True)
    torch.save({"iteration": 1, "generator": release_state(edgeconnect_generator_layers(3, 1, True))},
               folder / "EdgeModel_gen.pth")
    torch.save({"iteration": 1, "generator": release_state(edgeconnect_generator_layers(4, 3, False), seed=1)},
               folder / "InpaintingModel_gen.pth")
    if discriminators:
        for file, channels in (("EdgeModel_dis.pth", 2), ("InpaintingModel_dis.pth", 3)):
            state = release_state(edgeconnect_discriminator_layers(channels), seed=2)
            state |= {"features." + key.removeprefix("conv1."): value for key, value in state.items()
                      if key.startswith("conv1.")}  # `self.conv1 = self.features` registers conv1 twice
            torch.save({"discriminator": state}, folder / file)
    return folder


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Both releases written as released and imported with `eiip import-weights`."""
    root = tmp_path_factory.mktemp("releases")
    gmcnn = root / "gmcnn" / "20_net_GM.pth"
    gmcnn.parent.mkdir()
    torch.save(release_state(gmcnn_layers()), gmcnn)
    sources = {"edgeconnect": write_edgeconnect(root / "edgeconnect"), "gmcnn": gmcnn}
    out = {}
    for release, source in sources.items():
        out[release] = root / f"{release}.ckpt"
        assert main(["import-weights", "--release", release, "--from", str(source), "--out", str(out[release])]) == 0
    return out | {f"{release}-source": source for release, source in sources.items()}


def test_the_transcribed_layers_have_the_published_parameter_counts() -> None:
    assert parameter_count(edgeconnect_generator_layers(3, 1, True)) == 10_761_089
    assert parameter_count(edgeconnect_generator_layers(4, 3, False)) == 10_774_595
    assert parameter_count(gmcnn_layers()) == 12_561_891


def test_the_cli_choices_are_the_importable_releases() -> None:
    assert list(RELEASES) == list(RELEASE_READERS)


def test_imports_load_strictly_with_the_released_tensors(imported: dict[str, Path]) -> None:
    edgeconnect = CheckpointStage(imported["edgeconnect"]).module.generator
    released = torch.load(imported["edgeconnect-source"] / "InpaintingModel_gen.pth", weights_only=True)["generator"]
    assert torch.equal(edgeconnect.inpaint_generator.state_dict()["middle.3.conv_block.5.weight"],
                       released["middle.3.conv_block.5.weight"])
    edge = torch.load(imported["edgeconnect-source"] / "EdgeModel_gen.pth", weights_only=True)["generator"]
    assert torch.equal(edgeconnect.edge_generator.decoder[0].parametrizations.weight.original,
                       edge["decoder.0.weight_orig"])
    checkpoint = torch.load(imported["edgeconnect"], weights_only=True)
    assert checkpoint["eiip_import"]["imported"] == ["discriminators.edges", "discriminators.output",
                                                    "generator.edge_generator", "generator.inpaint_generator"]
    assert checkpoint["hyper_parameters"]["config"]["bottleneck"]["name"] == "rgb"

    gmcnn = CheckpointStage(imported["gmcnn"])
    assert gmcnn.output == "rgb"
    released = torch.load(imported["gmcnn-source"], weights_only=True)
    assert torch.equal(gmcnn.module.generator.columns[2][17].conv.weight, released["EB3.17.weight"])
    assert torch.equal(gmcnn.module.generator.decoder[1].conv.bias, released["decoding_layers.1.bias"])


def test_an_imported_release_inpaints_a_photo(imported: dict[str, Path], tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    files = photo_files(tmp_path, "coffee", (48, 64))
    out = tmp_path / "out.png"
    code = main(["inpaint", "--image", str(files["input"]), "--mask", str(files["mask"]), "--out", str(out),
                 "--ckpt", str(imported["gmcnn"])])
    assert code == 0, capsys.readouterr().err
    result, given = read_image(out), read_image(files["input"])
    assert result.shape == given.shape


def test_old_style_spectral_norm_reproduces_the_stored_normalized_weight() -> None:
    """PyTorch 0.4 stored `weight_orig`, `weight_u` and the normalized `weight` (no `weight_v`)."""
    torch.manual_seed(0)
    for layer in (nn.Conv2d(3, 5, 3), nn.ConvTranspose2d(5, 4, 4)):
        ours = spectral_norm(layer).eval()
        weight = torch.randn_like(ours.parametrizations.weight.original)
        u = torch.randn(ours.parametrizations.weight[0]._u.numel())
        old = {"weight_orig": weight, "weight": weight / 2.5, "weight_u": u, "bias": torch.zeros_like(ours.bias)}
        state = modernize_spectral_norm({f"x.{k}": v for k, v in old.items()},
                                        {f"x.{k}": v for k, v in ours.state_dict().items()})
        ours.load_state_dict({k: state[release_name("x." + k)] for k in ours.state_dict()})
        torch.testing.assert_close(ours.weight, weight / 2.5, rtol=1e-4, atol=1e-5)


def test_an_edgeconnect_file_from_old_pytorch_imports(tmp_path: Path) -> None:
    """EdgeModel_gen.pth as PyTorch 0.4/1.0 saved it: `weight` instead of `weight_v`; the effective weights match."""
    from eiip.external.backbones import build_backbone
    from eiip.external.releases import edgeconnect

    state = release_state(edgeconnect_generator_layers(3, 1, True), old_spectral_norm=True)
    torch.save({"iteration": 1, "generator": state}, tmp_path / "EdgeModel_gen.pth")
    torch.save({"iteration": 1, "generator": release_state(edgeconnect_generator_layers(4, 3, False))},
               tmp_path / "InpaintingModel_gen.pth")
    generator = build_backbone("edgeconnect", "rgb")
    parts = edgeconnect.read(tmp_path, generator, nn.ModuleDict())
    edge = generator.edge_generator
    edge.load_state_dict(parts["generator.edge_generator"])
    edge.eval()
    for name in ("encoder.4", "middle.2.conv_block.5", "decoder.0"):
        torch.testing.assert_close(edge.get_submodule(name).weight, state[f"{name}.weight"], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("damage", ["missing", "shape"])
def test_a_missing_key_or_wrong_shape_is_one_clear_line(tmp_path: Path, damage: str,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    state = release_state(gmcnn_layers())
    if damage == "missing":
        del state["EB2.14.bias"]
    else:
        state["decoding_layers.1.weight"] = torch.zeros(4, 16, 3, 3)
    state["extra.weight"] = torch.zeros(1)
    torch.save(state, tmp_path / "1_net_GM.pth")
    code = main(["import-weights", "--release", "gmcnn", "--from", str(tmp_path / "1_net_GM.pth"),
                 "--out", str(tmp_path / "x.ckpt")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and not (tmp_path / "x.ckpt").exists()
    assert "unexpected key(s) extra.weight" in err
    expected = ("missing key(s) EB2.14.bias" if damage == "missing"
                else "decoding_layers.1.weight (4, 16, 3, 3) (expected (3, 16, 3, 3))")
    assert expected in err


@pytest.mark.parametrize("override", ["bottleneck=mono", "nope=1"])
def test_an_override_that_cannot_hold_the_release_is_one_line(tmp_path: Path, override: str,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["import-weights", "--release", "gmcnn", "--from", str(tmp_path / "x.pth"), "--out",
                 str(tmp_path / "x.ckpt"), override])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith("error: ")


class Payload:
    """Not a tensor: unpickling it would run code that weights_only refuses."""


def test_a_pickled_object_is_refused(tmp_path: Path) -> None:
    torch.save({"iteration": 1, "generator": Payload()}, tmp_path / "EdgeModel_gen.pth")
    with pytest.raises(InputError, match="weights_only"):
        import_release("edgeconnect", tmp_path, tmp_path / "x.ckpt")


TINY = {"gmcnn": {"cnum": 4}, "edgeconnect": {"residual_blocks": 1}, "gatedconv": {"cnum": 8},
        "hifill": {"cnum": 4, "low_res": 64, "coarse_size": 64, "bottleneck_size": 16}}
TOLERANCE = {"gmcnn": 1e-5, "edgeconnect": 1e-2, "gatedconv": 2e-2, "hifill": 0.1}
"""GMCNN's head is linear before its clamp (exact); EdgeConnect's and DeepFill's go through tanh; HiFill's
mono refinement input has the coarse prediction in the (zero-weighted) mono channel, not in RGB."""


@pytest.mark.parametrize("backbone", sorted(TINY))
def test_init_from_gives_the_monochrome_of_the_rgb_model(tmp_path: Path, backbone: str) -> None:
    """Step 0 of a mono model started from an rgb checkpoint predicts about the rgb prediction's monochrome."""
    torch.manual_seed(0)
    rgb = ExternalInpainter(backbone=backbone, bottleneck="rgb", generator=TINY[backbone]).eval()
    if backbone == "edgeconnect":  # like a trained head, correlated RGB logits (tanh is curved: random ones differ)
        head = rgb.generator.inpaint_generator.decoder[-1].weight.data
        head[1:] = head[0] + 0.1 * head[1:]
    torch.save({"state_dict": rgb.state_dict(), "hyper_parameters": dict(rgb.hparams)}, tmp_path / "rgb.ckpt")
    mono = ExternalInpainter(backbone=backbone, bottleneck="mono", generator=TINY[backbone]).eval()
    initialize_from(mono, tmp_path / "rgb.ckpt")
    size = 64 if backbone == "hifill" else 32
    image = load_sample_photo("astronaut", size)[None]
    hole = torch.zeros(1, 1, size, size)
    hole[..., size // 4: size // 2, size // 3: 3 * size // 4] = 1.0
    with torch.no_grad():
        expected = rgb_to_mono(rgb(image, hole))
        got = mono(image, hole)
    assert (got - expected).abs().max() < TOLERANCE[backbone]


def test_train_config_init_from_starts_mono_from_an_imported_release(imported: dict[str, Path]) -> None:
    from omegaconf import OmegaConf

    cfg = OmegaConf.create(train_config("gmcnn", ["bottleneck=mono", f"init_from={imported['gmcnn']}"]))
    model = build_model(cfg)
    rgb = torch.load(imported["gmcnn"], weights_only=True)["state_dict"]
    first = model.generator.columns[0][0].conv.weight
    torch.testing.assert_close(first[:, [0, 1, 2, 4]], rgb["generator.columns.0.0.conv.weight"])
    assert torch.count_nonzero(first[:, 3]) == 0
    with pytest.raises(InputError, match="not both"):
        build_model(OmegaConf.merge(cfg, {"ckpt": "last.ckpt"}))


def deepfill_v2_variables(seed: int = 0) -> dict[str, "np.ndarray"]:
    """generative_inpainting inpaint_model.py build_inpaint_net (cnum 48): TF (k, k, in, out) kernels and biases.

    `gen_conv(x, n)` outputs n channels (features + gates), so the next layer sees n // 2; the
    output convs (3 channels) have no gate; `gen_deconv` nests `<name>/<name>_conv`.
    """
    import numpy as np

    c = 48

    def decoder(prefix: str) -> list[tuple]:
        up = [f"{prefix}{i}_upsample/{prefix}{i}_upsample_conv" for i in (13, 15)]
        return [(up[0], 3, None, 2 * c), (f"{prefix}14", 3, None, 2 * c), (up[1], 3, None, c),
                (f"{prefix}16", 3, None, c // 2), (f"{prefix}17", 3, None, 3)]

    def encoder(prefix: str, in_channels: int, widths: tuple[int, ...]) -> list[tuple]:
        names = [f"{prefix}1", f"{prefix}2_downsample", f"{prefix}3", f"{prefix}4_downsample", f"{prefix}5",
                 f"{prefix}6", *(f"{prefix}{i}_atrous" for i in range(7, 11))]
        return [(names[0], 5, in_channels, widths[0])] + [(n, 3, None, w) for n, w in zip(names[1:], widths[1:])]

    coarse = encoder("conv", 5, (c, 2 * c, 2 * c, *[4 * c] * 7)) + [("conv11", 3, None, 4 * c),
                                                                     ("conv12", 3, None, 4 * c)] + decoder("conv")
    xconv = encoder("xconv", 3, (c, c, 2 * c, 2 * c, *[4 * c] * 6))
    pmconv = encoder("pmconv", 3, (c, c, 2 * c, 4 * c, 4 * c, 4 * c))[:6] + [("pmconv9", 3, None, 4 * c),
                                                                          ("pmconv10", 3, None, 4 * c)]
    merge = [("allconv11", 3, 4 * c, 4 * c), ("allconv12", 3, None, 4 * c)] + decoder("allconv")
    rng = np.random.default_rng(seed)
    variables = {}
    for branch in (coarse, xconv, pmconv, merge):
        previous = None
        for name, k, cin, cout in branch:
            cin = cin if cin is not None else previous // 2
            variables[f"inpaint_net/{name}/kernel"] = (rng.standard_normal((k, k, cin, cout)) * 0.02).astype("float32")
            variables[f"inpaint_net/{name}/bias"] = np.zeros(cout, dtype="float32")
            previous = cout
    return variables


def test_deepfill_v2_table_has_the_published_parameter_count() -> None:
    assert sum(v.size for v in deepfill_v2_variables().values()) == 4_052_478


def test_deepfill_v2_npz_imports_with_bgr_reversed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import numpy as np

    variables = deepfill_v2_variables()
    kernel = np.zeros_like(variables["inpaint_net/conv1/kernel"])
    kernel[2, 2, 0, 0] = 1.0  # TF input channel 0 is blue: it reads B into output 0
    variables["inpaint_net/conv1/kernel"] = kernel
    variables["inpaint_net/allconv17/bias"] = np.array([0.1, 0.2, 0.3], dtype="float32")  # B, G, R
    variables["discriminator/sn_patch_gan/conv1/kernel"] = np.zeros((5, 5, 4, 64), dtype="float32")  # not imported
    np.savez(tmp_path / "deepfill_v2.npz", **variables)
    out = tmp_path / "deepfill.ckpt"
    assert main(["import-weights", "--release", "deepfill-v2", "--from", str(tmp_path / "deepfill_v2.npz"),
                 "--out", str(out)]) == 0, capsys.readouterr().err
    generator = CheckpointStage(out).module.generator
    first = generator.coarse[0].conv.weight
    assert first[0, 2, 2, 2] == 1.0 and torch.count_nonzero(first) == 1  # B is eiip's channel 2
    assert generator.refine_decoder[-1].conv.bias.tolist() == pytest.approx([0.3, 0.2, 0.1])
    torch.testing.assert_close(generator.refine_conv[3].conv.weight,
                               torch.from_numpy(variables["inpaint_net/xconv4_downsample/kernel"]).permute(3, 2, 0, 1))

    del variables["inpaint_net/pmconv9/bias"]
    np.savez(tmp_path / "broken.npz", **variables)
    assert main(["import-weights", "--release", "deepfill-v2", "--from", str(tmp_path / "broken.npz"),
                 "--out", str(tmp_path / "broken.ckpt")]) == 2
    assert "missing key(s) inpaint_net/pmconv9/bias" in capsys.readouterr().err


def test_train_py_starts_a_mono_run_from_an_rgb_run(sample_shards: Path, tmp_path: Path) -> None:
    """`train.py bottleneck=mono init_from=<rgb last.ckpt>` end to end (small GatedConv runs)."""
    rgb = train(small_run("gatedconv", "rgb", sample_shards), tmp_path / "rgb")
    mono = train(small_run("gatedconv", "mono", sample_shards, f"init_from={rgb}"), tmp_path / "mono")
    checkpoint = torch.load(mono, map_location="cpu", weights_only=True)
    assert checkpoint["global_step"] == 2
    assert checkpoint["hyper_parameters"]["config"]["init_from"] == str(rgb)
