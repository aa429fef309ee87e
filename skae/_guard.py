"""BLAS's threads for minibatch steps, chosen step by step by timing.

A minibatch's matrix products are small: with BLAS's own threads (OpenBLAS:
as many as cores) they run about 20% faster on a quiet 2-core machine (one
Adam pass over 50,000 x 256 float32 rows, h=256, k=32, batch 128: 0.45 s
against 0.57 s at one thread; benchmarks/README.md), but when another process
holds a core, BLAS's threads spin-wait for it and a pass took 86 s. So Adam
(:func:`skae._adam.minimize_adam`) holds BLAS at one thread, as it always
did, except for the steps where a :class:`ThreadGuard`, timing blocks of
steps each way, finds BLAS's own threads faster (:class:`BlasSteps`).

Either way the products are the same: OpenBLAS splits a product's output,
not its sums, among its threads, so a fit is bit-identical whichever way
each step ran (tests/test_guard.py checks it on the machine's BLAS).
"""

from __future__ import annotations

import statistics
import time

from skae._kernel import BlasOneThread, available_threads

#: :class:`ThreadGuard`'s schedule: steps timed per way in the first trial and
#: in each later one, steps between trials, how much faster (as a ratio of
#: medians) the threaded way must be to be chosen, and the untimed steps
#: before the first trial.
TRIAL_STEPS, RETRIAL_STEPS, RECHECK_STEPS, PREFER_THREADS = 8, 4, 256, 0.85
WARMUP_STEPS = 2
#: Two threaded steps in a row this many times slower than the one-thread
#: way's median end a trial's threaded block or a kept threaded way
#: (spin-waiting on a busy machine costs 3-100x a step).
ABORT_RATIO = 2.0
#: A threaded step this many times slower than one thread's median is
#: spin-waiting: threads are left at once (a single step over ABORT_RATIO
#: may be a hiccup).
DISASTER = 10.0
#: Each trial that chooses one thread (or a busy threaded way left) doubles
#: the steps to the next trial, up to this many times ``recheck``: on a busy
#: machine the threaded trials' slow steps grow rare.
BACKOFF = 16


class ThreadGuard:
    """Whether the next step uses threads, chosen by timing both ways.

    :meth:`tick` starts a step and returns its way, :meth:`done` ends it: a
    step's time is the time between them (the step's own work, not what the
    caller does between steps). After ``WARMUP_STEPS`` untimed steps on one
    thread, a trial runs a block of ``trial`` + 1 threaded steps, then one
    of ``trial`` + 1 one-thread steps, the first of each block untimed
    (threads idle for a while wake slowly). The threaded way is chosen when
    its median step is at most ``prefer`` times the other's (ties go to one
    thread, which leaves the other core to others) and kept for ``recheck``
    steps, after which a trial of ``retrial`` steps per way checks again, on
    the medians of each way's last ``max(trial, retrial)`` timed steps. Once
    chosen, the threaded way is kept while it is no slower.

    A busy machine makes threaded steps spin-wait: a threaded step more than
    ``DISASTER`` times slower than the one-thread way's median, or two in a
    row more than ``abort`` times slower (one is a hiccup), end a trial's
    threaded block (the trial then chooses one thread) or a kept threaded
    way at once. After one thread was chosen, or threads left so, the next
    trial comes twice as late as the last (``recheck`` steps at first, at
    most ``BACKOFF * recheck``; back to ``recheck`` once threads ran from
    one trial to the next without being left). ``history`` holds ``(step,
    threaded, median threaded, median one-thread)`` of each decision (a
    step's time instead of the first median where threads were left).
    ``clock`` (seconds) is
    injectable for tests.
    """

    def __init__(
        self,
        trial: int = TRIAL_STEPS,
        retrial: int = RETRIAL_STEPS,
        recheck: int = RECHECK_STEPS,
        prefer: float = PREFER_THREADS,
        abort: float = ABORT_RATIO,
        clock=time.perf_counter,
    ) -> None:
        if min(trial, retrial, recheck) < 1:
            raise ValueError("trial, retrial and recheck must be at least 1 step.")
        self.trial, self.retrial, self.recheck = trial, retrial, recheck
        self.prefer, self.abort, self.clock = prefer, abort, clock
        self.threaded = False  # the way of the current step
        self.history: list[tuple[int, bool, float, float]] = []
        self.steps = 0
        self._times = {True: [], False: []}
        self._need = trial  # timed steps per way in the next trial
        self._kept = WARMUP_STEPS  # steps left before the next trial
        self._plan = None  # the trial's (way, timed) steps left, last first
        self._start = None  # clock at the current step's tick
        self._timed = False  # whether the current step is a trial's timed one
        self._aborted = False  # whether this trial's threaded block was cut
        self._slow = 0  # threaded steps in a row over ``abort`` times slower
        self._fails = 0  # one-thread decisions (or threads left) in a row

    def tick(self) -> bool:
        """Start a step; return its way (True: threaded)."""
        self.steps += 1
        self._timed = False
        if self._kept > 0:
            self._kept -= 1
        else:
            if self._plan is None:  # a trial: a block of each way, threads first
                n = self._need
                block = [[(w, False)] + [(w, True)] * n for w in (True, False)]
                self._plan = (block[0] + block[1])[::-1]
            if self._plan:
                self.threaded, self._timed = self._plan.pop()
            else:
                self._decide()
        self._start = self.clock()
        return self.threaded

    def done(self) -> None:
        """End the step started by the last :meth:`tick`: time it."""
        if self._start is None:
            return
        spent, self._start = self.clock() - self._start, None
        if not self.threaded:
            self._slow = 0
            if self._timed:
                self._times[False].append(spent)
            return
        if self._timed:
            self._times[True].append(spent)
        elif self._plan is not None:
            return  # a trial's untimed first step: a slow wake-up
        one = self._times[False]
        if not one:
            return
        ratio = spent / max(statistics.median(one), 1e-12)
        self._slow = self._slow + 1 if ratio > self.abort else 0
        if ratio > DISASTER or self._slow >= 2:  # busy: threads spin-wait
            self._slow = 0
            if self._plan is not None:  # the trial's threaded block ends here
                self._plan = [p for p in self._plan if not p[0]]
                self._aborted = True
            else:  # the kept threaded way is left
                self.threaded = False
                self.history.append((self.steps, False, spent, statistics.median(one)))
                self._kept = max(self._kept, self._backoff())

    def _decide(self) -> None:
        """End a trial: choose the way of the next steps."""
        keep = max(self.trial, self.retrial)
        on, off = self._times[True], self._times[False]
        del on[:-keep], off[:-keep]
        a, b = statistics.median(on), statistics.median(off)
        chosen = self.history[-1][1] if self.history else False
        self.threaded = not self._aborted and a <= (1 if chosen else self.prefer) * b
        self._aborted = False
        self.history.append((self.steps, self.threaded, a, b))
        if chosen:  # threads ran without being left since the last trial
            self._fails = 0
        wait = self.recheck if self.threaded else self._backoff()
        self._plan, self._need, self._kept = None, self.retrial, wait - 1

    def _backoff(self) -> int:
        """Steps to the next trial after one thread was chosen: ``recheck``,
        then twice as many each time in a row, up to ``BACKOFF`` times."""
        wait = self.recheck * min(2**self._fails, BACKOFF)
        self._fails += 1
        return wait


class BlasSteps(BlasOneThread):
    """Inside ``with``, every BLAS library at one thread
    (:class:`~skae._kernel.BlasOneThread`, which restores them on leaving),
    except during the steps (each between :meth:`tick` and :meth:`done`) for
    which ``guard`` (by default a fresh :class:`ThreadGuard`) chooses BLAS's
    own thread counts, those found on entry. With one thread available (one
    core, or BLAS limited to one by the caller) nothing is timed: one
    thread."""

    def __init__(self, guard: ThreadGuard | None = None) -> None:
        self.guard = guard

    def __enter__(self):
        if available_threads() < 2:  # read before the counts are set to 1
            self.guard = None
        elif self.guard is None:
            self.guard = ThreadGuard()
        super().__enter__()
        self.threaded = False
        return self

    def _set(self, threaded: bool) -> None:
        if threaded != self.threaded:
            for lib, n in self._old:
                if n != 1:
                    lib.set_num_threads(n if threaded else 1)
            self.threaded = threaded

    def tick(self) -> None:
        """Start a step, in the way the guard chooses."""
        if self.guard is not None:
            self._set(self.guard.tick())

    def done(self) -> None:
        """End the step (the guard times it)."""
        if self.guard is not None:
            self.guard.done()
