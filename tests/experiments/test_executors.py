import gc

from mesa_llm.experiments import process_pool


def heap() -> tuple[int, int]:
    """This process's frozen objects and the objects its garbage collector tracks."""
    return gc.get_freeze_count(), len(gc.get_objects())


def test_a_pool_worker_freezes_what_it_starts_with_so_its_collections_skip_it():
    with process_pool(1) as pool:
        frozen, tracked = pool.submit(heap).result()
    assert frozen > 20_000  # the modules it imported (mesa_llm, Mesa, pandas) and the snapshot
    assert tracked < frozen / 5
