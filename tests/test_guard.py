"""The BLAS guard of minibatch steps (skae._guard): its schedule on a fake
clock, and an Adam fit bit-identical whichever way its steps ran."""

import warnings

import numpy as np
import pytest
from threadpoolctl import threadpool_info

from skae import AutoencoderTransformer
from skae._guard import WARMUP_STEPS, BlasSteps, ThreadGuard
from skae._kernel import available_threads, blas_libraries

T, F = True, False


def _guard_run(guard, cost, steps):
    """The ways ``guard`` picks over ``steps`` steps, step ``i`` in way ``w``
    lasting ``cost(i, w)`` seconds on a fake clock (and 5 s between steps,
    which the guard does not count)."""
    now = [0.0]
    guard.clock = lambda: now[0]
    ways = []
    for i in range(steps):
        ways.append(guard.tick())
        now[0] += cost(i, ways[-1])
        guard.done()
        now[0] += 5.0
    return ways


def test_guard_times_both_ways_and_keeps_the_faster():
    """After the untimed warm-up on one thread, a trial runs a block of each
    way (threaded first), the first step of each block untimed, keeps the
    faster way for ``recheck`` steps, then checks again with ``retrial``
    timed steps per way: a way that turns slow is left at the next check."""
    assert WARMUP_STEPS == 2
    guard = ThreadGuard(trial=3, retrial=2, recheck=10, abort=100.0)

    def cost(i, way):  # from step 30 on, the threaded way takes 3 s, not 1 s
        return (3.0 if i >= 30 else 1.0) if way else 2.0

    ways = _guard_run(guard, cost, 52)
    assert ways[:2] == [F, F]  # the warm-up
    assert ways[2:10] == [T] * 4 + [F] * 4  # the first trial
    assert ways[10:20] == [T] * 10  # threaded kept for recheck steps
    assert ways[20:26] == [T] * 3 + [F] * 3  # the recheck: still 1 s against 2 s
    assert ways[26:36] == [T] * 10
    assert ways[36:42] == [T] * 3 + [F] * 3  # threaded now takes 3 s
    assert ways[42:52] == [F] * 10
    assert guard.history == [(11, T, 1.0, 2.0), (27, T, 1.0, 2.0), (43, F, 3.0, 2.0)]


def test_guard_prefers_one_thread_on_ties_and_ignores_outliers():
    # the warm-up and each block's first step are not timed; a median of
    # three takes one slow timed step
    slow = {0: 50.0, 1: 50.0, 2: 100.0, 4: 100.0}
    guard = ThreadGuard(trial=3, retrial=2, recheck=10)
    ways = _guard_run(guard, lambda i, w: slow.get(i, 1.0 if w else 2.0), 12)
    assert ways[10:] == [T, T] and guard.history == [(11, T, 1.0, 2.0)]
    # threads must be at least 15% faster (PREFER_THREADS = 0.85)
    for ratio, chosen in ((1.0, F), (0.875, F), (0.84375, T)):
        guard = ThreadGuard(trial=2, retrial=2, recheck=5)
        ways = _guard_run(guard, lambda i, w, r=ratio: r if w else 1.0, 10)
        assert ways[8:] == [chosen, chosen]
    with pytest.raises(ValueError, match="at least 1 step"):
        ThreadGuard(trial=0)


def test_guard_leaves_threads_at_once_when_the_machine_turns_busy():
    """A kept threaded way is left after two steps in a row more than
    ``abort`` times slower than one thread's median (not at the next check;
    one such step is a hiccup), a later trial's threaded block ends at its
    second such step, the trial then choosing one thread, and trials back
    off while one thread keeps winning."""

    def cost(i, way):  # threads 1 s, one thread 2 s; busy from step 12 on
        return (10.0 if i >= 12 else 1.0) if way else 2.0

    guard = ThreadGuard(trial=2, retrial=4, recheck=10, abort=3.0)
    ways = _guard_run(guard, cost, 120)
    assert ways[2:8] == [T] * 3 + [F] * 3 and ways[8:14] == [T] * 6
    assert ways[14:24] == [F] * 10  # left after steps 12 and 13 (10 s each)
    # each retrial's threaded block (1 untimed + 4 timed) ends after 2 timed
    # slow steps, then 5 one-thread steps; one thread is chosen, and the
    # next trial comes twice as late each time (10, 20, 40 steps)
    for start in (24, 52, 100):
        assert ways[start : start + 3] == [T] * 3
    assert ways.count(T) == 3 + 6 + 3 * 3
    assert guard.history == [
        (9, T, 1.0, 2.0),
        (14, F, 10.0, 2.0),
        (33, F, 5.5, 2.0),
        (61, F, 10.0, 2.0),
        (109, F, 10.0, 2.0),
    ]
    # one step over DISASTER (10) times one thread's median: left at once
    guard = ThreadGuard(trial=2, retrial=2, recheck=20, abort=3.0)
    ways = _guard_run(guard, lambda i, w: (21.0 if i == 12 else 1.0) if w else 2.0, 20)
    assert ways[8:13] == [T] * 5 and ways[13:] == [F] * 7
    assert guard.history == [(9, T, 1.0, 2.0), (13, F, 21.0, 2.0)]
    # one slow step alone (step 12) changes nothing
    guard = ThreadGuard(trial=2, retrial=2, recheck=20, abort=3.0)
    ways = _guard_run(guard, lambda i, w: (10.0 if i == 12 else 1.0) if w else 2.0, 30)
    assert ways[8:] == [T] * 22 and guard.history == [(9, T, 1.0, 2.0)]


def test_blas_steps_restore_the_thread_counts_and_hold_one_by_default():
    before = [lib.num_threads for lib in blas_libraries()]
    guard = ThreadGuard(trial=1, retrial=1, recheck=1)
    with BlasSteps(guard) as blas:
        assert all(lib.num_threads == 1 for lib in blas_libraries())
        for _ in range(WARMUP_STEPS + 2):
            blas.tick()
        if blas.guard is not None:  # the trial's threaded block: BLAS's own
            assert blas.threaded and guard.threaded
            assert [lib.num_threads for lib in blas_libraries()] == before
    assert [lib.num_threads for lib in blas_libraries()] == before


class _Fixed(ThreadGuard):
    """A guard that always answers ``way``."""

    way = False

    def tick(self):
        return self.way


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_an_adam_fit_is_bit_identical_whichever_way_its_steps_ran(dtype, monkeypatch):
    """OpenBLAS splits a product's output, not its sums, among its threads:
    steps run on BLAS's own threads give the same bits as at one thread, so
    the guard's timing never changes a fit."""
    if available_threads() < 2:
        pytest.skip("one thread available: nothing to choose")
    if not any(i["internal_api"] == "openblas" for i in threadpool_info()):
        pytest.skip("checked for OpenBLAS")
    import skae._guard

    X = np.random.RandomState(0).normal(size=(3000, 64)).astype(dtype)
    params = dict(hidden_layer_sizes=(256,), solver="adam", batch_size=128)
    params.update(max_iter=2, early_stopping=False, random_state=0)
    coefs = []
    for way in (False, True):  # budget-bound fits: their warning is expected
        monkeypatch.setattr(warnings, "warn", lambda *a, **k: None)
        monkeypatch.setattr(
            skae._guard, "ThreadGuard", type("G", (_Fixed,), {"way": way})
        )
        ae = AutoencoderTransformer(8, **params).fit(X)
        coefs.append(np.concatenate([c.ravel() for c in ae.coefs_]))
    assert coefs[0].dtype == dtype
    assert np.array_equal(coefs[0], coefs[1])
