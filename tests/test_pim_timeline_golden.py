"""simulate()'s events stay what they were: a digest of each Timeline on eleven configurations (models,
systems, placements, detail, batch / seq_len / stage / bits), recorded from the code before the
method-section rewrite of simulate.py (commit 57bab19) and checked after every change.

Exact: the number of events and, per event, its unit, lane, op, layer and kind (a SHA-256 over them).
Within 1e-12: latency, energy and the sum of every float column (start, end, bytes, flops, energy and
its components), so a last-bit difference of another machine's BLAS does not fail it, but any change to
the model does. A change on purpose re-records the digests (and says why in the commit)."""

import hashlib

import pytest

from labkit.pim.simulate import simulate

TINY = {"name": "tiny-gqa", "model_type": "llama", "hidden_size": 256, "num_hidden_layers": 2,
        "num_attention_heads": 8, "num_key_value_heads": 2, "intermediate_size": 704, "vocab_size": 1000}
TINY_GPT = {"name": "tiny-gpt", "model_type": "gpt2", "n_embd": 192, "n_layer": 3, "n_head": 6,
            "vocab_size": 777, "n_positions": 512}
TINY_MOE = {"name": "tiny-moe", "model_type": "mixtral", "hidden_size": 256, "num_hidden_layers": 2,
            "num_attention_heads": 8, "num_key_value_heads": 2, "intermediate_size": 512, "vocab_size": 1000,
            "num_local_experts": 4, "num_experts_per_tok": 2}

GOLDEN = [
    ((TINY, "aim-like", dict(batch=2, seq_len=300)),
     {"events": 458, "names_sha256": "4c9ac02fc917118683bdfde03f3771a7393f8ec40ede84fd5005d7b4cca91813",
      "latency": 5.721156250000001e-06, "energy": 6.737497506900001e-05,
      "sums": {"start": 0.00131589275, "end": 0.00139942621875, "bytes": 8454048.0, "flops": 7954816.0,
               "energy": 6.737497506900001e-05, "e_dram_cell": 3.47674624e-05, "e_on_die_io": 8.56776704e-06,
               "e_tsv_phy": 1.9124479999999997e-06, "e_interposer": 1.1474688e-06, "e_mac": 5.9166720000000005e-06,
               "e_asic": 1.1949670399999999e-07, "e_static": 1.4943660125000002e-05}}),
    ((TINY, "aim-like", dict(batch=2, seq_len=300, detail="bank", bank_layers=[0, -1])),
     {"events": 1336, "names_sha256": "daf5ff349477b179c134cd15476dcebe9d69a193d66b52640a00c2c399c54ef2",
      "latency": 5.721156250000001e-06, "energy": 6.737497506900001e-05,
      "sums": {"start": 0.0038049137499999997, "end": 0.004099887218750001, "bytes": 8454048.0, "flops": 7954816.0,
               "energy": 6.737497506900001e-05, "e_dram_cell": 3.476746239999999e-05, "e_on_die_io": 8.56776704e-06,
               "e_tsv_phy": 1.912448e-06, "e_interposer": 1.1474688e-06, "e_mac": 5.916672e-06,
               "e_asic": 1.1949670399999999e-07, "e_static": 1.4943660125000002e-05}}),
    ((TINY, "hbm-pim", dict(batch=5, seq_len=33, detail="bank")),
     {"events": 3114, "names_sha256": "53c296a3faf7b568fadeb43df27ba51b3218f61f41bb2fa224e0c15b6bbecd92",
      "latency": 1.5455046874999996e-05, "energy": 0.0002128299140775,
      "sums": {"start": 0.026565086625, "end": 0.029696269765624995, "bytes": 19306640.0, "flops": 17046160.0,
               "energy": 0.0002128299140775, "e_dram_cell": 7.511961599999999e-05, "e_on_die_io": 3.81696e-05,
               "e_tsv_phy": 8.52e-06, "e_interposer": 5.112e-06, "e_mac": 1.274112e-05,
               "e_asic": 1.5793663999999998e-07, "e_static": 7.300964143749999e-05}}),
    ((TINY_GPT, "attacc-bank", dict(batch=3, seq_len=200, w_bits=8, a_bits=8, kv_bits=4)),
     {"events": 1580, "names_sha256": "9f6d5b6e529a5397ae4a3a51c5d7ef5929fc7000098dead8069053b7e462ad9a",
      "latency": 9.574790353221954e-06, "energy": 0.00010482305905762291,
      "sums": {"start": 0.006971184413744632, "end": 0.007471358076804297, "bytes": 6108507.0, "flops": 10333296.0,
               "energy": 0.00010482305905762291, "e_dram_cell": 2.20036608e-05,
               "e_on_die_io": 1.8967011840000002e-05, "e_tsv_phy": 4.233708e-06, "e_interposer": 2.5402248e-06,
               "e_mac": 1.63842048e-06, "e_asic": 9.7744896e-08, "e_static": 5.53422882416229e-05}}),
    ((TINY_GPT, "aim-like", dict(batch=2, seq_len=64, stage="prefill")),
     {"events": 668, "names_sha256": "f8212ee98c9bbf8df348672e8807d7cece1c8abbba719579abdcc09e9ecd019f",
      "latency": 0.00027017528515625006, "energy": 0.003421959029852125,
      "sums": {"start": 0.08881807075, "end": 0.09526364760546877, "bytes": 397949988.0, "flops": 361618176.0,
               "energy": 0.003421959029852125, "e_dram_cell": 0.0015821684736, "e_on_die_io": 0.0006334499942400001,
               "e_tsv_phy": 0.000141395088, "e_interposer": 8.483705279999998e-05, "e_mac": 0.000269407296,
               "e_asic": 5.003280384e-06, "e_static": 0.0007056978448281252}}),
    ((TINY_GPT, "hbm-pim", dict(batch=2, seq_len=100, placement="gpu")),
     {"events": 46, "names_sha256": "b54feb97dd06b4eadbeed1c9fa42b45bba7a17024a8d8880cd7ac16aa70efbc3",
      "latency": 0.00022704991143294008, "energy": 0.02281183522217401,
      "sums": {"start": 0.0049895935539335905, "end": 0.005443693376799471, "bytes": 3552804.0, "flops": 6410064.0,
               "energy": 0.02281183522217401, "e_dram_cell": 1.56323376e-05, "e_on_die_io": 6.366624768000001e-05,
               "e_tsv_phy": 1.4211216000000001e-05, "e_interposer": 8.526729599999998e-06,
               "e_mac": 4.807548000000001e-06, "e_asic": 0.0, "e_static": 0.02270499114329401}}),
    ((TINY_GPT, "neupims", dict(batch=5, seq_len=100, placement="neupims")),
     {"events": 487, "names_sha256": "2f22e123735e2d700689b97cd82d55a01ea0fce9efd523965c5e4ae916b7b205",
      "latency": 6.202712890625003e-06, "energy": 0.00020602069330499998,
      "sums": {"start": 0.001121499185546875, "end": 0.001149622369140625, "bytes": 7558938.0, "flops": 16025160.0,
               "energy": 0.00020602069330499998, "e_dram_cell": 3.24103032e-05,
               "e_on_die_io": 0.00010931590656000001, "e_tsv_phy": 2.4400872000000002e-05,
               "e_interposer": 1.46405232e-05, "e_mac": 1.193616e-05, "e_asic": 2.1679872e-07,
               "e_static": 1.3100129625000005e-05}}),
    ((TINY_GPT, "neupims", dict(batch=5, seq_len=100, placement="neupims", sub_batches=3)),
     {"events": 730, "names_sha256": "2210e6af5eefa29db6388f469d0e9c79cf764a8840cc55a3b62b8feee525ada5",
      "latency": 9.038482421875008e-06, "energy": 0.00029727101743500005,
      "sums": {"start": 0.0027149483242187517, "end": 0.0027470299179687516, "bytes": 10527642.0,
               "flops": 16025160.0, "energy": 0.00029727101743500005, "e_dram_cell": 4.54726008e-05,
               "e_on_die_io": 0.00016251508224, "e_tsv_phy": 3.6275688e-05, "e_interposer": 2.17654128e-05,
               "e_mac": 1.193616e-05, "e_asic": 2.1679872e-07, "e_static": 1.9089274875000016e-05}}),
    ((TINY, "attacc-bank", dict(batch=4, seq_len=40, stage="prefill", placement="neupims")),
     {"events": 716, "names_sha256": "bb52b12c60bfb8b8c69fe14b9e141edd822cb0225342451a2a14f778d98fb1d2",
      "latency": 0.0002442116153334269, "energy": 0.0018502402758272074,
      "sums": {"start": 0.07693288983174223, "end": 0.07837650043987364, "bytes": 28465984.0, "flops": 467988480.0,
               "energy": 0.0018502402758272074, "e_dram_cell": 0.0001059663616, "e_on_die_io": 0.00018641502208,
               "e_tsv_phy": 4.1610496e-05, "e_interposer": 2.49662976e-05, "e_mac": 7.456686080000001e-05,
               "e_asic": 5.17210112e-06, "e_static": 0.0014115431366272075}}),
    ((TINY_MOE, "aim-like", dict(batch=3, seq_len=128)),
     {"events": 594, "names_sha256": "adf596ba9711842aa8f18d952f3578b298df077f8abbba3120b7bf2b6e2128f8",
      "latency": 8.345382812500006e-06, "energy": 0.00013597653197025002,
      "sums": {"start": 0.002430193109375001, "end": 0.0025602696406250014, "bytes": 18190240.0,
               "flops": 13799424.0, "energy": 0.00013597653197025002, "e_dram_cell": 7.431311359999999e-05,
               "e_on_die_io": 2.16788992e-05, "e_tsv_phy": 4.83904e-06, "e_interposer": 2.9034239999999994e-06,
               "e_mac": 1.0303488000000001e-05, "e_asic": 1.40427264e-07, "e_static": 2.1798139906250014e-05}}),
    ((TINY_MOE, "neupims", dict(batch=4, seq_len=128, placement="neupims")),
     {"events": 335, "names_sha256": "ba2f7d14adc5b6e22104e092d82732987f39ecd643f00ad5c2fa0452b0ae8b3a",
      "latency": 1.5816953125000002e-05, "energy": 0.000485106200392,
      "sums": {"start": 0.0016703767187500002, "end": 0.001711575484375, "bytes": 16266112.0, "flops": 18399232.0,
               "energy": 0.000485106200392, "e_dram_cell": 7.082296319999999e-05, "e_on_die_io": 0.00027038613504,
               "e_tsv_phy": 6.0354048e-05, "e_interposer": 3.6212428799999995e-05, "e_mac": 1.3737984e-05,
               "e_asic": 1.8723635199999998e-07, "e_static": 3.3405405000000004e-05}}),
]


def digest(t):
    ev = t.events
    rows = zip(ev["unit"], ev["lane"], ev["op"], ev["layer"], ev["kind"], strict=True)
    names = "\n".join("|".join(map(str, r)) for r in rows)
    return {"events": len(ev), "names_sha256": hashlib.sha256(names.encode()).hexdigest(),
            "latency": t.latency, "energy": t.energy,
            "sums": {c: float(ev[c].to_numpy().sum()) for c in ev.columns if ev[c].dtype.kind == "f"}}


IDS = [f"{config[0]['name']}-{config[1]}-{i}" for i, (config, _) in enumerate(GOLDEN)]


@pytest.mark.parametrize("config, golden", GOLDEN, ids=IDS)
def test_events_are_unchanged(config, golden):
    model, system, kwargs = config
    got = digest(simulate(model, system, **kwargs))
    assert (got["events"], got["names_sha256"]) == (golden["events"], golden["names_sha256"])
    assert got["latency"] == pytest.approx(golden["latency"], rel=1e-12, abs=0)
    assert got["energy"] == pytest.approx(golden["energy"], rel=1e-12, abs=0)
    assert got["sums"].keys() == golden["sums"].keys()
    for column, total in golden["sums"].items():
        assert got["sums"][column] == pytest.approx(total, rel=1e-12, abs=1e-300), column
