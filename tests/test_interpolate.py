"""Latent interpolation: the math on constructed inputs, then frames drawn by the tiny generator
between two candidates and between two PriorSets, written as GIF and MP4."""

from __future__ import annotations

import io
import json
import math

import imageio.v2 as imageio_v2
import imageio.v3 as imageio_v3
import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from image_interpreter.artifacts import ArtifactStore
from image_interpreter.generate import GenerationRequest, Generator, PromptEmbeddings
from image_interpreter.generate.errors import GenerationError
from image_interpreter.generate.interpolate import (
    Endpoint,
    frame_times,
    interpolate,
    interpolate_people,
    interpolate_priors,
    lerp,
    lerp_embeddings,
    parse_hold,
    slerp,
)
from image_interpreter.images import encode_png
from image_interpreter.priors.examples import example_person
from image_interpreter.priors.schema import (
    ArtifactRef,
    CaptionPrior,
    DepthAdjust,
    DepthPrior,
    GenerationSettings,
    ImageRef,
    Keypoint,
    PeoplePrior,
    Person,
    PriorSet,
)
from image_interpreter.settings import load_settings

# --- slerp and lerp ----------------------------------------------------------------------------


def test_slerp_ends_are_exact_and_unit_vectors_stay_unit():
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(4, 8, 8, generator=gen), torch.randn(4, 8, 8, generator=gen)
    assert torch.equal(slerp(a, b, 0.0), a) and torch.equal(slerp(a, b, 1.0), b)
    ua, ub = a / a.norm(), b / b.norm()
    for t in (0.1, 0.25, 0.5, 0.8):
        assert slerp(ua, ub, t).norm().item() == pytest.approx(1.0, abs=1e-5)
    # the angle from a grows linearly with t
    theta = math.acos(float((ua * ub).sum()))
    mid = slerp(ua, ub, 0.3)
    assert math.acos(float((ua * mid).sum())) == pytest.approx(0.3 * theta, abs=1e-4)


def test_slerp_of_orthogonal_vectors_and_the_parallel_fallback():
    a, b = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    torch.testing.assert_close(slerp(a, b, 0.5), torch.tensor([1.0, 1.0]) / math.sqrt(2))
    near = torch.tensor([1.0, 1e-4])
    torch.testing.assert_close(slerp(a, near, 0.5), lerp(a, near, 0.5))
    with pytest.raises(ValueError):
        slerp(a, torch.zeros(3), 0.5)


def test_embeddings_interpolate_in_a_straight_line():
    a = PromptEmbeddings(torch.zeros(1, 77, 4), torch.ones(1, 77, 4), 1)
    b = PromptEmbeddings(torch.full((1, 77, 4), 2.0), torch.ones(1, 77, 4) * 3, 1)
    mid = lerp_embeddings(a, b, 0.25)
    torch.testing.assert_close(mid.prompt_embeds, torch.full((1, 77, 4), 0.5))
    torch.testing.assert_close(mid.negative_prompt_embeds, torch.full((1, 77, 4), 1.5))
    assert torch.equal(lerp_embeddings(a, b, 1.0).prompt_embeds, b.prompt_embeds)
    longer = PromptEmbeddings(torch.zeros(1, 154, 4), torch.zeros(1, 154, 4), 2)
    with pytest.raises(ValueError, match="one shape"):
        lerp_embeddings(a, longer, 0.5)


def test_frame_times():
    assert frame_times(5) == [0.0, 0.25, 0.5, 0.75, 1.0]
    with pytest.raises(GenerationError):
        frame_times(1)


# --- pose and priors ---------------------------------------------------------------------------


def _source() -> ImageRef:
    return ImageRef(sha256="0" * 64, width=64, height=64)


def test_the_midpoint_of_a_pose_is_the_joint_wise_midpoint():
    left, right = example_person(dx=0.0), example_person(dx=0.2)
    right.body["nose"] = Keypoint(x=0.5, y=0.3, confidence=0.5)
    del right.body["left_ear"]  # only joints both have
    del left.hands["right"]  # a hand one side lacks comes from the nearer side
    a, b = PeoplePrior(people=[left]), PeoplePrior(people=[right], weight=0.5)
    mid = interpolate_people(a, b, 0.5)
    person = mid.people[0]
    assert set(person.body) == set(left.body) - {"left_ear"}
    for name, point in person.body.items():
        assert point.x == pytest.approx((left.body[name].x + right.body[name].x) / 2)
        assert point.y == pytest.approx((left.body[name].y + right.body[name].y) / 2)
    assert person.body["nose"].confidence == pytest.approx((0.95 + 0.5) / 2)
    assert person.hands["left"].keypoints["wrist"].x == pytest.approx(
        (left.hands["left"].keypoints["wrist"].x + right.hands["left"].keypoints["wrist"].x) / 2
    )
    assert "right" in person.hands  # t = 0.5 is B's half
    assert "right" not in interpolate_people(a, b, 0.25).people[0].hands
    assert person.box.x0 == pytest.approx((left.box.x0 + right.box.x0) / 2)
    assert mid.weight == pytest.approx(0.75)
    start = interpolate_people(a, b, 0.0).people[0]
    assert start.body["nose"] == left.body["nose"]


def test_people_are_matched_by_index_and_extra_people_appear_on_their_side():
    a = PeoplePrior(people=[example_person(0.0), example_person(0.3, label="the child")])
    b = PeoplePrior(people=[example_person(0.1)])
    assert len(interpolate_people(a, b, 0.2).people) == 2
    assert len(interpolate_people(a, b, 0.7).people) == 1
    first = interpolate_people(a, b, 0.7).people[0]
    assert first.body["neck"].x == pytest.approx(0.5 + 0.07)


def test_people_only_one_end_has():
    lonely = Person(body={"neck": Keypoint(x=0.5, y=0.3)})
    a = PeoplePrior(people=[lonely])
    b = PeoplePrior(people=[])
    assert interpolate_people(a, b, 0.49).people == [lonely]
    assert interpolate_people(a, b, 0.5).people == []


def _priors(dx: float, depth_sha: str, *, caption: str = "a man", weight: float = 1.0) -> PriorSet:
    return PriorSet(
        source=_source(),
        caption=CaptionPrior(text=caption),
        people=PeoplePrior(people=[example_person(dx)]),
        depth=DepthPrior(
            map=ArtifactRef(sha256=depth_sha), weight=weight, adjust=DepthAdjust(scale=1.0 + dx)
        ),
        generation=GenerationSettings(width=64, height=64, steps=2, candidates=1),
    )


def test_interpolated_priors_are_valid_and_held_kinds_stay_fixed():
    a, b = _priors(0.0, "a" * 64, weight=1.0), _priors(0.2, "b" * 64, caption="a dog", weight=0.5)
    free = interpolate_priors(a, b, 0.25)
    assert PriorSet.model_validate_json(free.to_json()) == free
    assert free.depth.map.sha256 == "a" * 64  # maps cannot move: the nearer end's
    assert free.depth.weight == pytest.approx(0.875)
    assert free.depth.adjust.scale == pytest.approx(1.05)
    assert free.caption.text == "a man"
    assert interpolate_priors(a, b, 0.75).depth.map.sha256 == "b" * 64
    held = interpolate_priors(a, b, 0.75, hold=["depth"])
    assert held.depth == a.depth
    assert held.people.people[0].body["neck"].x == pytest.approx(0.5 + 0.15)
    pose_held = interpolate_priors(a, b, 0.5, hold="pose")
    assert pose_held.people == a.people and pose_held.depth.weight == pytest.approx(0.75)
    with pytest.raises(GenerationError, match="not a prior kind"):
        parse_hold(["depth", "wings"])


# --- drawing frames ----------------------------------------------------------------------------


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return tmp_path_factory.getbasetemp() / "tiny-models"  # shared by modules: builds are atomic


@pytest.fixture(scope="module")
def settings(tmp_path_factory, tiny_dir):
    return load_settings(
        profile="tiny", device="cpu", data_dir=tmp_path_factory.mktemp("data"), tiny_dir=tiny_dir
    )


@pytest.fixture(scope="module")
def generator(settings):
    return Generator(settings)


@pytest.fixture(scope="module")
def store(settings):
    return ArtifactStore(settings.artifacts_dir)


@pytest.fixture(scope="module")
def scene(store):
    """Two PriorSets: the person moves right and the depth map changes."""
    ramp = np.tile(np.linspace(0, 255, 64).astype(np.uint8), (64, 1))
    depth_a, depth_b = store.put(_png(ramp)), store.put(_png(ramp[:, ::-1].copy()))
    source = store.put(encode_png(Image.new("RGB", (64, 64), "gray")))
    a = _priors(0.0, depth_a).model_copy(
        update={"source": _source().model_copy(update={"sha256": source})}
    )
    b = _priors(0.2, depth_b, caption="a photo of a dog").model_copy(update={"source": a.source})
    return a, b


def _pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image).astype(np.int16)


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def test_frames_between_two_candidates_start_and_end_on_them(generator, store, scene, tmp_path):
    priors = scene[0]
    first, second = generator.generate(
        GenerationRequest(priors=priors, candidates=2, seed=11), read_artifact=store.get
    )
    result = interpolate(
        generator, Endpoint.from_recipe(first.recipe, priors),
        Endpoint.from_recipe(second.recipe, priors), frames=5, read_artifact=store.get,
    )  # fmt: skip
    assert result.calls == 1  # one PriorSet: all frames in one batched call
    assert result.seeds == (11, 12)
    assert [f.t for f in result.frames] == [0.0, 0.25, 0.5, 0.75, 1.0]
    # The ends are the candidates: the same noise, embeddings and priors. (Kernels are not
    # bit-for-bit invariant to batch size, so allow a rounding level here and there.)
    for frame, end in ((result.frames[0], first), (result.frames[-1], second)):
        diff = np.abs(_pixels(frame.image) - _pixels(end.image))
        assert diff.max() <= 3 and diff.mean() < 0.1
    assert np.abs(_pixels(result.frames[2].image) - _pixels(first.image)).mean() > 1
    assert set(result.frames[2].candidate.recipe.custom_inputs) == {"latents", "embeddings"}

    paths = result.write(tmp_path / "anim", fps=10, bounce=True)
    gif = imageio_v3.imread(paths["gif"])
    assert gif.shape == (8, 64, 64, 3)  # 5 frames forward, 3 back
    assert len(imageio_v2.mimread(paths["mp4"], format="FFMPEG")) == 8
    assert len(list(paths["frames"].glob("*.png"))) == 5
    summary = json.loads(paths["json"].read_text())
    assert [f["t"] for f in summary["frames"]] == [0.0, 0.25, 0.5, 0.75, 1.0]


def test_frames_between_two_priorsets_move_the_pose_and_hold_depth(generator, store, scene):
    a, b = scene
    steps: list[tuple[int, int]] = []
    result = interpolate(
        generator, Endpoint.from_priors(a, seed=3), Endpoint.from_priors(b), frames=3,
        hold=["depth"], read_artifact=store.get,
        progress=lambda step, total, preview: steps.append((step, total)),
    )  # fmt: skip
    assert result.calls == 3 and result.seeds == (3, 3)  # B's seed defaults to A's
    assert result.prompts == ("a man", "a photo of a dog")
    assert all(frame.priors.depth == a.depth for frame in result.frames)
    neck = [frame.priors.people.people[0].body["neck"].x for frame in result.frames]
    assert neck == pytest.approx([0.5, 0.6, 0.7])
    assert steps[-1] == (6, 6)  # 3 frames x 2 steps
    assert len({np.asarray(f.image).tobytes() for f in result.frames}) == 3


def test_interpolate_command_from_two_priorset_files(tmp_path, scene, settings, monkeypatch):
    from image_interpreter.cli import app

    monkeypatch.setenv("IMAGE_INTERPRETER_TINY_DIR", str(settings.tiny_models_dir))
    monkeypatch.setenv("IMAGE_INTERPRETER_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("IMAGE_INTERPRETER_DEVICE", "cpu")
    files = []
    for name, priors in zip("ab", scene, strict=True):
        files.append(tmp_path / f"{name}.json")
        files[-1].write_text(priors.to_json())
    out = tmp_path / "anim"
    result = CliRunner().invoke(
        app, ["--profile", "tiny", "interpolate", *map(str, files), "--frames", "3", "--out",
              str(out), "--hold", "depth,segmentation"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    # depth is held; the priors have no segmentation, and the user is told so
    assert "--hold segmentation: the priors have no segmentation" in result.output
    assert "--hold depth" not in result.output
    assert imageio_v3.imread(out / "interpolation.gif").shape[0] == 3
    assert (out / "interpolation.mp4").stat().st_size > 0
    bad_out = tmp_path / "bad"
    bad = CliRunner().invoke(
        app, ["interpolate", *map(str, files), "--hold", "wings", "--out", str(bad_out)]
    )
    assert bad.exit_code != 0 and not bad_out.exists()


def test_a_recipe_finds_its_priors_beside_it(generator, store, scene, tmp_path):
    from image_interpreter.generate.cli_interpolate import load_endpoint

    priors = scene[0]
    (candidate,) = generator.generate(
        GenerationRequest(priors=priors, seed=5), read_artifact=store.get
    )
    (tmp_path / "priors.json").write_text(priors.to_json())
    (tmp_path / "candidate-0.json").write_text(candidate.recipe_json())
    end = load_endpoint(tmp_path / "candidate-0.json")
    assert end.priors == priors and end.seed == 5 and end.prompt == candidate.recipe.prompt
    (tmp_path / "priors.json").unlink()
    with pytest.raises(GenerationError, match="--priors-a"):
        load_endpoint(tmp_path / "candidate-0.json")
    wrapped = tmp_path / "both.json"
    wrapped.write_text(json.dumps({"recipe": candidate.recipe.model_dump(mode="json"),
                                   "priors": priors.model_dump(mode="json")}))  # fmt: skip
    assert load_endpoint(wrapped).priors == priors
