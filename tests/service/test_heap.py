"""The daemon hands freed heap memory back to the system (glibc's malloc_trim)."""

from __future__ import annotations

import ctypes

import pytest

from secondself.service.heap import release_free_memory
from secondself.service.metrics import anonymous_rss_bytes

BLOCK = 64 * 1024  # under glibc's mmap threshold: these come from the heap, as a turn's buffers do
BLOCKS = 1000  # 64 MB freed, each between two blocks still in use


def resident_anonymous_mb() -> float:
    anonymous = anonymous_rss_bytes()
    if not anonymous:
        pytest.skip("no RssAnon in /proc/self/status")
    return anonymous / 2**20


def test_freed_heap_pages_go_back_to_the_system() -> None:
    libc = ctypes.CDLL(None)
    libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    blocks, pins = [], []
    for _ in range(BLOCKS):
        block = libc.malloc(BLOCK)
        ctypes.memset(block, 1, BLOCK)  # touched: resident
        blocks.append(block)
        pins.append(libc.malloc(BLOCK))  # a long-lived allocation after each: no coalescing
    for block in blocks:
        libc.free(block)
    before = resident_anonymous_mb()  # freed, but kept by malloc: the pins hold the heap's top
    try:
        assert release_free_memory()
        after = resident_anonymous_mb()
    finally:
        for pin in pins:
            libc.free(pin)
    assert before - after > BLOCK * BLOCKS / 2**20 / 2, (before, after)
