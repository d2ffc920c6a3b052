"""Compute and communication tasks on streams, with dependencies, sharing one fabric.

A step of a training job (or several jobs at once) is a set of :class:`Task`: compute
kernels that take a fixed time on their GPUs, and collectives whose bytes cross the
cluster's resources.  Tasks on one *stream* run one after the other, in the order they were
added (a CUDA stream, or a rank group's compute); a task also waits for the tasks it depends
on.  :func:`simulate` runs them in time:

- every communication task that is moving bytes is one flow of the max-min solver
  (:func:`netemu.flow.max_min_rates`), so collectives that run at the same time share the
  links, NICs and host memory they have in common, max-min fairly;
- a collective is a *coflow*: its transfers progress in proportion (its load vector is the
  sum of its transfers' resource shares per byte), so it moves at the rate its most loaded
  resource allows while other collectives take their share -- the steady-state model of
  pipelined rings and trees, and of an all-to-all whose transfers are alike;
- a communication task has phases run in order (dispatch, then combine), each with bytes
  and a latency added once its bytes have drained (the α of the α-β model);
- rates are re-solved whenever a task starts or ends (the rates of a set of phases in
  flight are kept per process and fabric, so a sweep whose points reuse a job's phases
  solves each set once).

Examples
--------
Two 1 GB transfers over one 1 GB/s link at the same time take 2 s; on a second stream a
1.5 s kernel runs meanwhile:

>>> import numpy as np
>>> tasks = [Task("a", "comm0", phases=[Phase({0: 1.0}, 1e9)]),
...          Task("b", "comm1", phases=[Phase({0: 1.0}, 1e9)]),
...          Task("k", "gpu", duration=1.5)]
>>> tl = simulate(np.array([1e9]), tasks)
>>> [round(float(tl.end[i]), 9) for i in range(3)]
[2.0, 2.0, 1.5]
"""

from dataclasses import dataclass, field

import numpy as np

from netemu import flow as _flow
from netemu.flow import _jit
from netemu.errors import ParameterError

__all__ = ["Phase", "Task", "Timeline", "simulate"]

#: Relative tolerance on remaining work (bytes) and times.
_EPS = 1e-12
_INF = float("inf")


def _identity(pair):
    return id(pair[0])


@dataclass(frozen=True, eq=False)
class Phase:
    """Bytes moved with a fixed resource load, then a latency.

    ``load`` maps resource id -> capacity used per byte/s of the phase's rate (the sum of
    its transfers' shares per byte); ``work`` is the bytes to move; ``latency`` is added
    after they drained.  Phases are compared by identity: the solver's results are reused
    for the same set of phases in flight.
    """
    load: dict
    work: float
    latency: float = 0.0

    def __post_init__(self):
        cols = np.fromiter(self.load.keys(), dtype=np.int64, count=len(self.load))
        vals = np.fromiter(self.load.values(), dtype=np.float64, count=len(self.load))
        order = np.argsort(cols)
        object.__setattr__(self, "_cols", cols[order])
        object.__setattr__(self, "_vals", vals[order])


@dataclass
class Task:
    """A compute kernel (``duration``) or a communication (``phases``) on ``stream``.

    Attributes
    ----------
    name : str
    stream : str
        Tasks of one stream run one at a time, in order of addition.
    duration : float
        Seconds of compute (for a task without phases).
    phases : list of Phase
    deps : list of int
        Indices of tasks that must end before this one starts.
    tag : str
        What the task is, for breakdowns (``'compute'``, ``'dp'``, ``'ep'``, ...).
    group : str
        The rank group it runs on, for timelines.
    """
    name: str
    stream: str
    duration: float = 0.0
    phases: list = field(default_factory=list)
    deps: list = field(default_factory=list)
    tag: str = "compute"
    group: str = ""


@dataclass
class Timeline:
    """Start and end time of every task (seconds), in the order given."""
    tasks: list
    start: np.ndarray
    end: np.ndarray
    events: int

    @property
    def makespan(self):
        return float(self.end.max()) if self.end.size else 0.0


def _check(tasks, n_res):
    for i, t in enumerate(tasks):
        if t.phases:
            for p in t.phases:
                if not (p.work >= 0 and np.isfinite(p.work)) or not p.latency >= 0:
                    raise ParameterError(f"task {t.name!r}: phase work and latency must be "
                                         f"finite and >= 0, got {p.work!r}, {p.latency!r}")
                # The phase's sorted arrays say at once whether every entry is fine; the
                # Python loop runs only to name the first bad one.
                cols, vals = p._cols, p._vals
                if cols.size and (cols[0] < 0 or cols[-1] >= n_res or not (vals > 0).all()):
                    for r, s in p.load.items():
                        if not 0 <= r < n_res or not s > 0:
                            raise ParameterError(f"task {t.name!r}: load {r}: {s} names no "
                                                 f"resource of {n_res} or is not > 0")
        elif not (t.duration >= 0 and np.isfinite(t.duration)):
            raise ParameterError(f"task {t.name!r}: duration must be finite and >= 0, got "
                                 f"{t.duration!r}")
        for d in t.deps:
            if not 0 <= d < len(tasks) or d == i:
                raise ParameterError(f"task {t.name!r}: dependency {d!r} is not another task")


def simulate(capacity, tasks):
    """Run ``tasks`` on resources of ``capacity`` (bytes/s); see the module notes.

    Raises
    ------
    ParameterError
        For a malformed task, or tasks that can never start (a dependency cycle, or a
        dependency on a later task of the same stream).
    """
    capacity = np.asarray(capacity, dtype=float)
    _check(tasks, capacity.size)
    n = len(tasks)
    start = np.full(n, np.nan)
    end = np.full(n, np.nan)
    queues = {}
    for i, t in enumerate(tasks):
        queues.setdefault(t.stream, []).append(i)
    head = {s: 0 for s in queues}
    busy = {}                        # stream -> its running task
    # Running task -> [phase index, bytes left, latency left, compute left]; None once ended.
    state = {}
    # A task can start once its stream is free and its dependencies are done: count the
    # dependencies still running, and look only at the streams an event may have freed
    # (the one of an ended task, the ones of its dependents), not at every stream.
    waiting = [len(set(t.deps)) for t in tasks]
    dependents = [[] for _ in range(n)]
    for i, t in enumerate(tasks):
        for d in set(t.deps):
            dependents[d].append(i)
    ready = dict.fromkeys(queues)     # streams to look at, in a fixed order
    solver = _Solver(capacity, tasks)
    cache = _rates_cache(capacity)
    now = 0.0
    events = 0
    n_done = 0
    while n_done < n:
        _start_ready(tasks, queues, head, busy, state, waiting, ready, start, now)
        # Parts with nothing left (0-byte phases, 0-s kernels) end at once.
        for i in list(state):
            if _part_over(tasks[i], state[i]):
                _next_part(tasks[i], state, i)
        ended = [i for i, st in state.items() if st is None]
        if ended:
            n_done += _retire(tasks, ended, state, busy, end, now, waiting, dependents, ready)
            continue
        if not state:
            stuck = [tasks[q[head[s]]].name for s, q in queues.items() if head[s] < len(q)]
            raise ParameterError(f"{n - n_done} task(s) can never start (a dependency cycle, "
                                 f"or a wait on a later task of the same stream): "
                                 f"{', '.join(stuck[:5])}")
        # The phases moving bytes, in order of identity (the cache's key).
        moving = [(tasks[i].phases[st[0]], i) for i, st in state.items()
                  if st[0] is not None and st[2] is None]
        rates = {}
        if moving:
            moving.sort(key=_identity)
            phases = [p for p, _ in moving]
            key = tuple(map(id, phases))
            x = cache.get(key)
            if x is None:
                x = cache.add(key, phases, solver.rates(phases))
            rates = dict(zip((i for _, i in moving), x))
        dt = min(st[3] if st[3] is not None else st[2] if st[2] is not None
                 else st[1] / rates[i] for i, st in state.items())
        now += dt
        events += 1
        # Every running part advances by dt; the ones it finishes move on (_part_over's test,
        # inline: this loop runs for every task in flight at every event).
        tol = _EPS * max(1.0, now)
        ended = []
        for i, st in state.items():
            if st[3] is not None:
                st[3] -= dt
                over = st[3] <= tol
            elif st[2] is not None:
                st[2] -= dt
                over = st[2] <= tol
            else:
                r = rates[i]
                if r != _INF:
                    st[1] -= r * dt
                else:
                    st[1] = 0.0
                over = st[1] <= _EPS * max(1.0, tasks[i].phases[st[0]].work)
            if over:
                _next_part(tasks[i], state, i)
                if state[i] is None:
                    ended.append(i)
        n_done += _retire(tasks, ended, state, busy, end, now, waiting, dependents, ready)
    return Timeline(tasks, start, end, events)


#: Sets of phases in flight whose rates a process keeps (see :class:`_RatesCache`) per
#: fabric: at most this many sets, and phases of at most this many load entries in all
#: (about 120 bytes each, the phases' own dicts and arrays; a 2,048-GPU DeepSeek-V3 step's
#: phases hold 160,000), for at most _RATES_FABRICS fabrics.
_RATES_KEPT = 65536
_RATES_ENTRIES = 1_000_000
_RATES_FABRICS = 4
_RATES = {}


class _RatesCache(dict):
    """Rates of sets of phases in flight, by the phases' ids, on one capacity vector.

    The phases are kept with the rates, so their ids cannot pass to other objects while
    an entry lives; bounded in sets and in the load entries of the phases it holds (the
    whole cache is dropped when either is exceeded).
    """

    def __init__(self):
        super().__init__()
        self.held = {}
        self.entries = 0

    def add(self, key, phases, rates):
        if len(self) >= _RATES_KEPT or self.entries > _RATES_ENTRIES:
            self.clear()
            self.held.clear()
            self.entries = 0
        for p in phases:
            if id(p) not in self.held:
                self.held[id(p)] = p
                self.entries += p._cols.size
        self[key] = rates
        return rates


def _rates_cache(capacity):
    """The :class:`_RatesCache` of resources of ``capacity``, kept across simulations.

    A sweep's points whose compute differs reuse one job's phases
    (:func:`netemu.collectives.step._comm_memo`), and many of the same sets of phases meet
    again in their timelines.  Keyed by the capacities themselves, so another fabric (or a
    changed one) has its own; the latest :data:`_RATES_FABRICS` capacity vectors are kept.
    """
    key = (capacity.size, hash(capacity.tobytes()))
    hit = _RATES.pop(key, None)
    if hit is None or not np.array_equal(hit[0], capacity):
        hit = (capacity.copy(), _RatesCache())
    _RATES[key] = hit
    while len(_RATES) > _RATES_FABRICS:
        del _RATES[next(iter(_RATES))]
    return hit[1]


class _Solver:
    """The rates of the phases in flight, for one simulation: every distinct phase's loads
    laid end to end once, so an event passes the solver indices, not arrays to join."""

    def __init__(self, capacity, tasks):
        self.capacity = capacity
        self.index = {}
        cols, vals, offs = [], [], [0]
        for t in tasks:
            for p in t.phases:
                if id(p) not in self.index and p._cols.size:
                    self.index[id(p)] = len(cols)
                    cols.append(p._cols)
                    vals.append(p._vals)
                    offs.append(offs[-1] + p._cols.size)
        self.cols = np.concatenate(cols) if cols else np.zeros(0, dtype=np.int64)
        self.vals = np.concatenate(vals) if vals else np.zeros(0)
        self.offs = np.asarray(offs, dtype=np.int64)
        self.pos = np.full(capacity.size, -1, dtype=np.int64)

    def rates(self, phases):
        """Max-min rates of ``phases`` (one flow each), solved on the resources they touch
        only; a phase that touches none (every transfer inside one GPU) moves at once."""
        out = np.full(len(phases), np.inf)
        real = [k for k, p in enumerate(phases) if p._cols.size]
        if real:
            if not _flow.HAVE_NUMBA:
                out[real] = _solve_numpy(self.capacity, [phases[k] for k in real])
                return out
            which = np.array([self.index[id(phases[k])] for k in real], dtype=np.int64)
            out[real] = _fill(self.capacity, self.cols, self.vals, self.offs, which, self.pos,
                              _flow.RTOL)
        return out


def _solve(capacity, phases):
    """Max-min rates of a few coflows (one per phase) by progressive filling.

    A step has a dozen coflows in flight, each over thousands of resources: filling them
    directly on the concatenated loads costs a fraction of building the general solver's
    index for every event, and gives the same unique answer (unweighted max-min, no demand
    caps) up to rounding.
    """
    if not _flow.HAVE_NUMBA:
        return _solve_numpy(capacity, phases)
    cols = np.concatenate([p._cols for p in phases])
    vals = np.concatenate([p._vals for p in phases])
    offs = np.zeros(len(phases) + 1, dtype=np.int64)
    offs[1:] = np.cumsum([p._cols.size for p in phases])
    return _fill(np.asarray(capacity, dtype=np.float64), cols, vals, offs,
                 np.arange(len(phases), dtype=np.int64),
                 np.full(capacity.size, -1, dtype=np.int64), _flow.RTOL)


def _solve_numpy(capacity, phases):
    """:func:`_solve` in NumPy (where numba is missing; and the kernel's reference).

    A step has a dozen coflows in flight, each over thousands of resources: filling them
    directly on the concatenated loads (a bincount per freezing level) costs a fraction of
    building the general solver's index for every event, and gives the same unique answer
    (unweighted max-min, no demand caps) up to rounding.
    """
    k = len(phases)
    sizes = [p._cols.size for p in phases]
    cols = np.concatenate([p._cols for p in phases])
    vals = np.concatenate([p._vals for p in phases])
    owner = np.repeat(np.arange(k), sizes)
    # The resources touched, numbered compactly (a mark array: no sort of the entries).
    mark = np.zeros(capacity.size, dtype=bool)
    mark[cols] = True
    used = np.flatnonzero(mark)
    m = used.size
    pos = np.empty(capacity.size, dtype=np.int64)
    pos[used] = np.arange(m)
    local = pos[cols]
    cap = capacity[used]
    rate = np.zeros(k)
    active = np.ones(k, dtype=bool)
    frozen = np.zeros(m)                 # load of the frozen coflows, at their rates
    while active.any():
        on = active[owner]
        slope = np.bincount(local[on], weights=vals[on], minlength=m)
        hit = slope > 0
        room = np.full(m, np.inf)
        room[hit] = (cap[hit] - frozen[hit]) / slope[hit]
        level = room.min()
        # Resources that saturate at this level (within the solver's tie margin) freeze
        # every active coflow that crosses them.
        tight = room <= level * (1.0 + _flow.RTOL)
        stop = np.zeros(k, dtype=bool)
        stop[owner[on & tight[local]]] = True
        rate[stop] = level
        active &= ~stop
        froze = stop[owner]
        frozen += np.bincount(local[froze], weights=vals[froze] * level, minlength=m)
    return rate


@_jit
def _fill(capacity, cols, vals, offs, which, pos, rtol):
    """Progressive filling of coflows ``which`` (rows of ``cols``/``vals`` between ``offs``).

    The same arithmetic, in the same order, as the NumPy form it replaces (a bincount of
    the active coflows' loads per level, then the frozen ones' loads added at their rate),
    so the rates are bit for bit the same; one compiled pass instead of a dozen array
    operations per level.  ``pos`` is scratch of -1s, one per resource, left as found.
    """
    k = which.size
    n = 0
    for q in range(k):
        n += offs[which[q] + 1] - offs[which[q]]
    local = np.empty(n, dtype=np.int64)
    owner = np.empty(n, dtype=np.int64)
    wt = np.empty(n, dtype=np.float64)
    used = np.empty(n, dtype=np.int64)
    m = 0
    e = 0
    for q in range(k):
        p = which[q]
        for j in range(offs[p], offs[p + 1]):
            r = cols[j]
            if pos[r] < 0:
                pos[r] = m
                used[m] = r
                m += 1
            local[e] = pos[r]
            owner[e] = q
            wt[e] = vals[j]
            e += 1
    cap = np.empty(m, dtype=np.float64)
    for j in range(m):
        cap[j] = capacity[used[j]]
        pos[used[j]] = -1
    rate = np.zeros(k)
    frozen = np.zeros(m)
    slope = np.empty(m)
    room = np.empty(m)
    add = np.empty(m)
    stop = np.empty(k, dtype=np.bool_)
    left = k
    while left > 0:
        # Entries of frozen coflows were dropped below, so every entry here is active.
        slope[:] = 0.0
        for j in range(n):
            slope[local[j]] += wt[j]
        level = np.inf
        for j in range(m):
            if slope[j] > 0:
                room[j] = (cap[j] - frozen[j]) / slope[j]
            else:
                room[j] = np.inf
            if room[j] < level:
                level = room[j]
        # Resources that saturate at this level (within the solver's tie margin) freeze
        # every active coflow that crosses them.
        thr = level * (1.0 + rtol)
        stop[:] = False
        for j in range(n):
            if room[local[j]] <= thr:
                stop[owner[j]] = True
        add[:] = 0.0
        keep = 0
        for j in range(n):
            if stop[owner[j]]:
                add[local[j]] += wt[j] * level
            else:
                # Still active: kept, in order, for the next level.
                local[keep] = local[j]
                owner[keep] = owner[j]
                wt[keep] = wt[j]
                keep += 1
        n = keep
        for q in range(k):
            if stop[q]:
                rate[q] = level
                left -= 1
        for j in range(m):
            frozen[j] += add[j]
    return rate


def _start_ready(tasks, queues, head, busy, state, waiting, ready, start, now):
    """Start the head task of every stream in ``ready`` that is free and whose task has no
    dependency left (starting a task frees nothing, so one pass is enough)."""
    for s in ready:
        if s in busy:
            continue
        q = queues[s]
        if head[s] >= len(q):
            continue
        i = q[head[s]]
        if waiting[i]:
            continue
        t = tasks[i]
        head[s] += 1
        busy[s] = i
        start[i] = now
        state[i] = [0, t.phases[0].work, None, None] if t.phases else \
            [None, None, None, t.duration]
    ready.clear()


def _retire(tasks, ended, state, busy, end, now, waiting, dependents, ready):
    for i in ended:
        del state[i]
        end[i] = now
        s = tasks[i].stream
        del busy[s]
        ready[s] = None
        for d in dependents[i]:
            waiting[d] -= 1
            if not waiting[d]:
                ready[tasks[d].stream] = None
    return len(ended)


def _part_over(t, st, dt=0.0, now=0.0):
    tol = _EPS * max(1.0, now)
    if st[3] is not None:
        return st[3] <= tol
    if st[2] is not None:
        return st[2] <= tol
    return st[1] <= _EPS * max(1.0, t.phases[st[0]].work)


def _next_part(t, state, i):
    """Move task ``i`` on: from a phase's bytes to its latency, to the next phase, or to its
    end (state None)."""
    st = state[i]
    if st[3] is not None:
        state[i] = None
        return
    ph = t.phases[st[0]]
    if st[2] is None and ph.latency > 0:
        st[1], st[2] = 0.0, ph.latency
        return
    k = st[0] + 1
    if k >= len(t.phases):
        state[i] = None
        return
    state[i] = [k, t.phases[k].work, None, None]
