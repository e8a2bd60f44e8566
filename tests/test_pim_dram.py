"""DRAM-PIM bank timing, the GEMV mapping, refresh, system presets and the energy table."""

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labkit.pim import energy
from labkit.pim.dram import gemv_time, map_gemv, refresh_finish, tile_classes, unit_work
from labkit.pim.hardware import load_hardware
from labkit.pim.systems import SYSTEMS_DIR, list_systems, load_system

SYSTEMS = ["aim-like", "hbm-pim", "attacc-bank", "neupims"]


def _no_refresh(name, **dram):
    return load_system({"base": name, "dram": {"refresh": False, **dram}})


def test_gemv_4096x1024_on_aim_like_equals_the_closed_form():
    # computed here from the preset's cycle counts (GDDR6_AiM_timing / GDDR6_AiM_org), not from dram.py:
    tck = 0.5e-9
    t_rcd, t_rp, t_ccd = 56 * tck, 32 * tck, 2 * tck  # nRCDRDMAC, nRP, nCCDL
    banks = 32 * 16  # channels x banks, one 16-lane MAC unit per bank
    weights_per_row = 2048 // 2  # a 2 KB row of FP16
    bursts_per_row = 2048 // 32  # 256-bit MAC operand per column burst
    rows = 4096 * math.ceil(1024 / weights_per_row) // banks  # DRAM rows opened per bank: 8
    cols = rows * bursts_per_row  # column MAC bursts per bank: 512
    closed = rows * (t_rcd + t_rp) + cols * t_ccd  # 864 ns
    assert (rows, cols) == (8, 512)
    got = gemv_time(4096, 1024, "aim-like")
    assert got == pytest.approx(closed, rel=1e-12, abs=0)
    m = map_gemv(4096, 1024, load_system("aim-like").dram)
    assert set(m.rows) == {rows} and set(m.cols) == {cols}


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(SYSTEMS), st.integers(1, 3000), st.integers(1, 4), st.integers(1, 3))
def test_full_row_gemv_is_rows_times_row_overhead_plus_cols_times_tccd(name, N, segments, heads):
    s = _no_refresh(name)
    d = s.dram
    R = d.row_bytes // 2  # FP16 weights per row
    S = d.row_bytes // d.burst_bytes
    K = segments * R
    T = heads * N * segments  # one tile per (head, output row, segment)
    C, U = d.channels, d.units_per_channel
    tiles0 = math.ceil(T / C)  # channel 0 gets tiles 0, C, 2C, ...
    rows = math.ceil(tiles0 / U)
    cols = rows * S
    tb = max(d.tCCD, d.burst_bytes / 2 / (d.mac_lanes * d.mac_hz))
    want = rows * (d.tRCD + d.tRP) + cols * tb
    assert gemv_time(N, K, s, heads=heads) == pytest.approx(want, rel=1e-12)


@settings(max_examples=80, deadline=None)
@given(st.sampled_from(SYSTEMS), st.integers(1, 5000), st.integers(1, 5000), st.integers(1, 8),
       st.integers(1, 4), st.sampled_from([4, 8, 16]))
def test_time_is_at_least_bytes_over_bandwidth_and_flops_over_compute(name, N, K, M, heads, bits):
    d = load_system(name).dram
    t = gemv_time(N, K, name, M=M, heads=heads, bits=bits)
    assert t >= heads * N * K * bits / 8 / d.peak_bandwidth(bits) * (1 - 1e-12)
    assert t >= 2 * M * heads * N * K / d.peak_flops() * (1 - 1e-12)


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(SYSTEMS), st.integers(1, 64), st.integers(1, 3))
def test_doubling_channels_or_the_clock_halves_memory_bound_time(name, n_units, segments):
    base = _no_refresh(name)
    d = base.dram
    N = n_units * 2 * d.units  # every unit of the doubled system gets the same tiles
    K = segments * d.row_bytes // 2
    t = gemv_time(N, K, base)
    # what is doubled: the channel count (bandwidth and MAC units), or every clock (tCK halved)
    t_ch = gemv_time(N, K, _no_refresh(name, channels=2 * d.channels))
    t_clk = gemv_time(N, K, load_system({"base": name, "dram": {"refresh": False, "tCK_ns": d.tCK * 1e9 / 2,
                                                                 "mac_ghz": d.mac_hz / 1e9 * 2}}))
    assert t_ch == pytest.approx(t / 2, rel=1e-12)
    assert t_clk == pytest.approx(t / 2, rel=1e-12)


def test_halving_tccd_alone_does_not_halve_time_because_of_row_overheads():
    s = _no_refresh("aim-like")
    fast = _no_refresh("aim-like", nCCD=1, mac_ghz=2.0)  # faster MACs too, else they bind at 1 ns/burst
    t, t2 = gemv_time(4096, 4096, s), gemv_time(4096, 4096, fast)
    assert gemv_time(4096, 4096, _no_refresh("aim-like", nCCD=1)) == t  # the MAC lanes bind
    d = s.dram
    frac_col = 64 * d.tCCD / (64 * d.tCCD + d.tRCD + d.tRP)  # 64 / 108 of each row cycle is column time
    assert t2 / t == pytest.approx(1 - frac_col / 2, rel=1e-12)


def _refresh_reference(start, work, period, trfc):
    """Step through the refresh windows one by one."""
    t, left = start, work
    k = max(1, math.floor(start / period))
    while True:
        w0 = k * period
        if t < w0:
            run = min(left, w0 - t)
            t += run
            left -= run
            if left <= 0:
                return t
        t = max(t, w0 + trfc)
        k += 1


@settings(max_examples=200, deadline=None)
@given(st.floats(0, 50e-6), st.floats(1e-9, 30e-6))
def test_refresh_finish_matches_a_window_by_window_reference(start, work):
    d = load_system("aim-like").dram
    got = float(refresh_finish(start, work, d))
    want = _refresh_reference(start, work, d.tREFI, d.tRFC)
    assert got == pytest.approx(want, rel=1e-9, abs=1e-15)


def test_a_long_gemv_pays_one_trfc_per_refresh_window_crossed():
    d = load_system("aim-like").dram
    busy = float(map_gemv(16384, 4096, d).busy.max())  # ~14 us
    n = math.ceil((busy - d.tREFI) / (d.tREFI - d.tRFC))
    assert n >= 5
    assert gemv_time(16384, 4096, "aim-like") == pytest.approx(busy + n * d.tRFC, rel=1e-12)


@pytest.mark.parametrize("name", SYSTEMS)
def test_units_add_up_to_their_channel(name):
    d = load_system(name).dram
    for N, K, heads, by_head in ((1000, 700, 1, False), (300, 128, 40, True), (5000, 3000, 2, False)):
        m = map_gemv(N, K, d, 1, heads, 16, by_head)
        busy, rows, bursts = unit_work(m, d)
        assert np.allclose(busy.max(axis=1), m.busy, rtol=1e-12)
        assert np.array_equal(rows.max(axis=1), m.rows)
        assert np.allclose(bursts.sum(axis=1), m.bursts)
        assert m.total_tiles == m.tiles.sum()


def test_partition_and_concatenate_rules():
    d = load_system("aim-like").dram  # 1024 FP16 per row, 16 per burst, 64 bursts per row
    assert tile_classes(4096, 1024, 1, d, 16) == ((4096, 64),)  # one output row per DRAM row
    # 2 full segments each + a 452-weight remainder (29 bursts): two remainders share a row
    assert tile_classes(10, 2500, 1, d, 16) == ((20, 64), (5, 58))
    assert tile_classes(100, 768, 1, d, 16) == ((100, 48),)  # 48 bursts: only one fits a 64-burst row
    assert tile_classes(100, 64, 3, d, 16) == ((18, 64), (3, 16))  # K cache, hd 64: 16 tokens per row
    assert tile_classes(100, 64, 1, d, 4) == ((1, 64), (1, 36))  # 4-bit: a token is one burst, 64 per row


def test_every_preset_number_is_cited():
    for name in list_systems():
        raw = json.loads((SYSTEMS_DIR / f"{name}.json").read_text())
        for sec in ("dram", "asic", "gpu", "energy"):
            for key, v in raw[sec].items():
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    assert raw["cite"].get(f"{sec}.{key}"), f"{name}: {sec}.{key} has no citation"


def test_presets_load_and_match_their_sources():
    assert set(SYSTEMS) <= set(list_systems())
    aim = load_system("aim-like").dram
    assert aim.capacity_bytes == 16 * 2**30
    assert aim.peak_bandwidth() == pytest.approx(16.384e12)  # 512 banks x 32 B / 1 ns
    assert aim.peak_flops() == pytest.approx(16 * 1.024e12)  # 1 TFLOPS per 2-channel chip (ISSCC 2022)
    att = load_system("attacc-bank").dram
    assert att.channels * att.io_bw_per_channel == pytest.approx(5 * 670.4e9)
    t4, hw = load_system("aim-like").gpu, load_hardware("nvidia_T4")  # the T4 datasheet entry of hardware.json
    assert (t4.bandwidth_gbs * 1e9, t4.tflops * 1e12) == (hw.bandwidth, hw.fp16)


def test_bad_systems_raise_clear_errors():
    with pytest.raises(ValueError, match="system: expected one of the known systems .*aim-like.*hbm-pim"):
        load_system("aim-lite")
    with pytest.raises(ValueError, match="channels"):
        load_system({"base": "aim-like", "dram": {"channels": 0}})
    with pytest.raises(TypeError, match="nRCD"):  # a string where a number goes
        load_system({"base": "aim-like", "dram": {"nRCD": "fast"}})
    with pytest.raises(ValueError, match="banks_per_channel"):
        load_system({"base": "hbm-pim", "dram": {"units_per_channel": 16}})
    with pytest.raises(ValueError, match="'gpu'"):
        load_system({"dram": {}, "asic": {}})
    with pytest.raises(TypeError, match="system"):
        load_system(3)
    with pytest.raises(ValueError, match="N: expected an integer >= 1"):
        map_gemv(0, 10, load_system("aim-like").dram)


def test_weight_streaming_energy_ratio_is_gpu_path_over_bank_path():
    assert energy.path_pj_per_bit("gpu") == pytest.approx(0.11 + 0.44 + 1.01 + 1.23 + 0.5 + 0.3, rel=1e-15)
    assert energy.path_pj_per_bit("bank") == pytest.approx(0.55, rel=1e-15)
    nbytes = 13.48e9  # Llama-2-7B FP16 weights, streamed once
    gpu = sum(energy.movement(nbytes, "gpu").values())
    pim = sum(energy.movement(nbytes, "bank").values())
    assert gpu / pim == pytest.approx(3.59 / 0.55, rel=1e-12)
    assert energy.weight_streaming_ratio() == pytest.approx(3.59 / 0.55, rel=1e-12)
    assert gpu == pytest.approx(0.387, rel=0.01)  # reference: 387 mJ per token on the GPU path
    e = energy.event_energy(1, moved=[(1.0, "gpu")], macs=2.0, mac_pj=energy.FP16_MAC_PJ)
    assert e["mac"] == pytest.approx(3.0e-12) and e["tsv_phy"] == pytest.approx(4e-12)
    with pytest.raises(ValueError, match="path"):
        energy.movement(1.0, "cxl")


@pytest.mark.parametrize("batch", [1, 8])
def test_attacc_attention_matches_its_analytic_bank_pim_bandwidth_within_10_percent(batch):
    # GPT-175B (96 heads x 128) attention over L = 2048 cached tokens: read K (QK^T) and V (SV) once.
    # attacc_simulator src/config.py: 670.4 GB/s per HBM3 stack x 9 (bank-PIM, power-constrained) x 5 stacks
    heads, L, hd = 96 * batch, 2048, 128
    ours = gemv_time(L, hd, "attacc-bank", heads=heads) + gemv_time(hd, L, "attacc-bank", heads=heads)
    analytic = 2 * heads * L * hd * 2 / (5 * 670.4e9 * 9)
    assert ours == pytest.approx(analytic, rel=0.10)
    assert ours > analytic  # the event model adds row overheads and refresh
