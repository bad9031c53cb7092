"""The thread pool's task hand-out (each participant takes its own share of the tasks first,
then what is left of the others'): every task runs exactly once, whatever the task and thread
counts, all threads take part, and an exception in a task reaches the caller without a hang."""
import pytest

import fmaconv
from fmaconv import _core


@pytest.fixture
def restore_threads():
    old = fmaconv.get_num_threads()
    yield
    fmaconv.set_num_threads(old)


@pytest.mark.parametrize("threads", [1, 2, 3, 5])
@pytest.mark.parametrize("n_tasks", [0, 1, 2, 3, 7, 64, 1001])
def test_every_task_runs_once(threads, n_tasks, restore_threads):
    fmaconv.set_num_threads(threads)
    counts, _ = _core._pool_run(n_tasks)
    assert len(counts) == n_tasks
    assert all(c == 1 for c in counts), [i for i, c in enumerate(counts) if c != 1][:10]


def test_threads_share_the_tasks(restore_threads):
    """Tasks long enough (50 us each) that both threads take some (a pool whose worker never
    took part would fail this; a few tries, as the machine may be busy)."""
    fmaconv.set_num_threads(2)
    for _ in range(10):
        counts, who = _core._pool_run(64, task_us=50.0)
        assert counts == [1] * 64
        if len(set(who)) == 2:
            return
    pytest.fail("one thread ran every task in 10 tries")


@pytest.mark.parametrize("threads", [1, 2, 4])
@pytest.mark.parametrize("fail_at", [0, 5, 63])
def test_task_exception_reaches_caller(threads, fail_at, restore_threads):
    fmaconv.set_num_threads(threads)
    with pytest.raises(RuntimeError, match=f"task {fail_at} failed"):
        _core._pool_run(64, fail_at)
    counts, _ = _core._pool_run(64)  # the pool still works afterwards
    assert counts == [1] * 64


def test_pool_run_rejects_bad_count():
    with pytest.raises(ValueError, match="n_tasks must be in"):
        _core._pool_run(-1)
