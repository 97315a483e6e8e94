"""Running extractors through the registry: names users type, caching, errors that cache nothing,
and artifacts that stay inside the session that asked."""

import numpy as np
import pytest
from PIL import Image
from skimage import data

from image_interpreter.errors import ExtractionError, SessionError
from image_interpreter.extract import ExtractionService, extractor_choices, find_extractor
from image_interpreter.images import load_image
from image_interpreter.priors import PriorSet
from image_interpreter.session import SessionStore
from image_interpreter.settings import load_settings


@pytest.fixture
def setup(tmp_path):
    settings = load_settings(data_dir=tmp_path, profile="tiny")
    store = SessionStore.from_settings(settings)
    service = ExtractionService(settings, store.artifacts)
    yield settings, store, service
    store.close()


def _session_with_photo(store):
    from image_interpreter.images import encode_png

    session = store.create()
    image = session.add_image(encode_png(Image.fromarray(data.astronaut())), "astronaut.png")
    session.commit(PriorSet(source=image.ref))
    photo = load_image(session.read_artifact(image.ref.sha256))
    return session, photo


def test_users_name_extractors_by_kind_alias_or_full_name():
    assert find_extractor("edges").name == "edges.canny"
    assert find_extractor("Canny").name == "edges.canny"
    assert find_extractor("palette.median_cut").kind == "palette"
    assert {"edges", "palette"} <= set(extractor_choices())


def test_unknown_kind_lists_the_choices():
    with pytest.raises(ExtractionError, match=r"Unknown extractor or kind 'wings'.*palette"):
        find_extractor("wings")


def test_extracting_twice_costs_nothing_the_second_time(setup):
    _, store, service = setup
    session, photo = _session_with_photo(store)
    first = service.extract_into(session.current, photo, ["edges", "palette"],
                                 put_artifact=session.put_artifact)  # fmt: skip
    assert service.model_runs == 2
    second = service.extract_into(session.current, photo, ["edges", "palette"],
                                  put_artifact=session.put_artifact)  # fmt: skip
    assert service.model_runs == 2
    assert second == first
    assert first.edges.provenance.extractor == "edges.canny"
    assert first.edges.provenance.parameters == {"low": 100, "high": 200}
    # a fresh service (another process, a restart) reads the disk cache too
    settings = service.settings
    again = ExtractionService(settings, store.artifacts)
    again.extract_into(session.current, photo, ["edges"], put_artifact=session.put_artifact)
    assert again.model_runs == 0


def test_results_are_real_data(setup):
    _, store, service = setup
    session, photo = _session_with_photo(store)
    priors = service.extract_into(session.current, photo, ["edges", "palette"],
                                  put_artifact=session.put_artifact)  # fmt: skip
    edge_map = load_image(session.read_artifact(priors.edges.map.sha256))
    assert edge_map.size == photo.size
    values = set(np.unique(np.asarray(edge_map.convert("L"))).tolist())
    assert values <= {0, 255} and values == {0, 255}
    fractions = [c.fraction for c in priors.palette.colors]
    assert len(fractions) == 6 and sum(fractions) == pytest.approx(1.0, abs=1e-4)
    assert fractions == sorted(fractions, reverse=True)
    session.commit(priors)  # everything it refers to is this session's


def test_wrong_parameters_are_refused_before_any_work_and_nothing_is_cached(setup):
    _, store, service = setup
    session, photo = _session_with_photo(store)
    for params, message in (({"lo": 3}, "lo"), ({"low": 250, "high": 10}, "at least low")):
        with pytest.raises(ExtractionError, match=message):
            service.extract(photo, session.current.source, "edges", params)
    assert service.model_runs == 0
    assert not list(service.cache_dir.rglob("*.json"))


def test_a_cached_result_is_linked_to_the_session_that_asks(setup):
    _, store, service = setup
    alice, photo = _session_with_photo(store)
    bob, _ = _session_with_photo(store)
    for_alice = service.extract(photo, alice.current.source, "edges",
                                put_artifact=alice.put_artifact)  # fmt: skip
    with pytest.raises(SessionError):
        bob.read_artifact(for_alice.map.sha256)
    service.extract(photo, bob.current.source, "edges", put_artifact=bob.put_artifact)
    assert service.model_runs == 1
    assert bob.read_artifact(for_alice.map.sha256)


def test_a_failing_extractor_is_one_clear_error_and_is_not_cached(setup, monkeypatch):
    _, store, service = setup
    session, photo = _session_with_photo(store)
    extractor = service.instance("palette")

    def broken(*args, **kwargs):
        raise RuntimeError("CUDA error: device-side assert")

    monkeypatch.setattr(extractor, "extract", broken)
    with pytest.raises(ExtractionError, match=r"palette.median_cut failed.*device-side"):
        service.extract(photo, session.current.source, "palette")
    monkeypatch.undo()
    service.extract(photo, session.current.source, "palette")
    assert service.model_runs == 1


def test_several_sessions_extract_at_once_with_one_model_load(setup, monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    _, store, service = setup
    sessions = [_session_with_photo(store) for _ in range(4)]
    extractor = service.instance("depth")
    loads = []
    real_load = extractor.load
    monkeypatch.setattr(extractor, "load", lambda: (loads.append(1), real_load())[1])

    def work(item):
        session, photo = item
        params = {"detect_resolution": 126}
        source = session.current.source
        prior = service.extract(photo, source, "depth", params, put_artifact=session.put_artifact)
        return session.read_artifact(prior.map.sha256)

    with ThreadPoolExecutor(max_workers=4) as pool:
        maps = list(pool.map(work, sessions))
    assert len(loads) == 1  # loaded once, though four sessions asked at the same moment
    assert len(set(maps)) == 1  # the same photo gives the same map in every session
    assert service.model_runs <= 4
