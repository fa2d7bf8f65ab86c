"""Table-driven bad inputs: every one is refused with one line naming the problem (config: exit 2,
``config error: [section] key: ...``; API: an exception naming the argument), before any masked
evaluation."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from spex_mech.cli import main

BASE = '[model]\nzoo = "planted"\n'
TOKENS = '[prompts]\ntokens = [[0, 1, 2, 3, 0, 1], [1, 2, 3, 0, 1, 2]]\n'
LOGIT = '[metric]\nkind = "logit_diff"\ncorrect = 1\nincorrect = 0\n'
EXH = '[algorithm]\nname = "exhaustive"\n'
SPEX = '[algorithm]\nname = "spex"\nmax_order = 2\nbudget = 2000\n'


def cfg(*parts: str) -> str:
    return "".join(parts)


CONFIG_CASES = [
    # (id, toml, expected fragment of the single stderr line)
    ("flush_every_negative", cfg(BASE, EXH, "[output]\nflush_every = -1\n"), "[output] flush_every: -1 is too small"),
    ("flush_every_zero", cfg(BASE, EXH, "[output]\nflush_every = 0\n"), "[output] flush_every: 0 is too small"),
    (
        "flush_every_float",
        cfg(BASE, EXH, "[output]\nflush_every = 1.5\n"),
        "[output] flush_every must be masks evaluated between store flushes",
    ),
    (
        "batch_size_zero",
        cfg(BASE, EXH, "[output]\nbatch_size = 0\n"),
        "[output] batch_size: 0 is not valid ('auto' or a positive integer)",
    ),
    ("batch_size_word", cfg(BASE, EXH, '[output]\nbatch_size = "big"\n'), "[output] batch_size: 'big' is not valid"),
    ("top_zero", cfg(BASE, EXH, "[output]\ntop = 0\n"), "[output] top: 0 is too small"),
    (
        "faithfulness_negative",
        cfg(BASE, EXH, "[output]\nfaithfulness_samples = -5\n"),
        "[output] faithfulness_samples: -5 is too small",
    ),
    (
        "circuit_fraction",
        cfg(BASE, EXH, "[output]\ncircuit_fraction = 1.5\n"),
        "[output] circuit_fraction must be in (0, 1]",
    ),
    ("figure_format", cfg(BASE, EXH, '[output]\nfigures = ["gif"]\n'), "[output] figures: unknown format 'gif'"),
    ("prompts_n_zero", cfg(BASE, EXH, "[prompts]\nn = 0\n"), "[prompts] n: 0 prompts is too few"),
    (
        "prompts_seed_float",
        cfg(BASE, EXH, "[prompts]\nseed = 1.5\n"),
        "[prompts] seed must be prompt seed for a zoo task",
    ),
    (
        "seed_float",
        cfg(BASE, '[algorithm]\nname = "spex"\nseed = 1.5\n'),
        "[algorithm] seed must be random seed, got float 1.5",
    ),
    (
        "seed_bool",
        cfg(BASE, '[algorithm]\nname = "spex"\nseed = true\n'),
        "[algorithm] seed must be random seed, got True",
    ),
    ("budget_zero", cfg(BASE, '[algorithm]\nname = "proxyspex"\nbudget = 0\n'), "[algorithm] budget: 0 is too small"),
    (
        "max_order_zero",
        cfg(BASE, '[algorithm]\nname = "spex"\nmax_order = 0\n'),
        "[algorithm] max_order: 0 is too small",
    ),
    ("budget_missing", cfg(BASE, '[algorithm]\nname = "lasso"\n'), "[algorithm] budget: missing (lasso needs one"),
    (
        "proxyspex_budget_below_its_minimum",
        cfg(BASE, '[algorithm]\nname = "proxyspex"\nbudget = 9\n'),
        "[algorithm] budget: budget must be an integer ≥ 10, got 9",
    ),
    ("spex_budget_small", cfg(BASE, '[algorithm]\nname = "spex"\nmax_order = 3\nbudget = 20\n'), "[algorithm] budget:"),
    (
        "exhaustive_too_many",
        cfg(BASE, '[units]\nneurons = [{ layer = 0 }]\nheads = "all"\n', EXH, "[prompts]\nn = 2\n"),
        None,
    ),  # 16 units: allowed
    (
        "decoder_int",
        cfg(BASE, SPEX, "options = { decoder = 5 }\n"),
        "[algorithm] options.decoder: 5 is not a valid decoder for spex (expected str)",
    ),
    (
        "decoder_word",
        cfg(BASE, SPEX, 'options = { decoder = "medium" }\n'),
        "[algorithm] options.decoder: decoder must be 'soft' or 'hard', got 'medium'",
    ),
    (
        "n_groups_float",
        cfg(BASE, SPEX, "options = { n_groups = 1.5 }\n"),
        "[algorithm] options.n_groups: 1.5 is not a valid n_groups for spex (expected int)",
    ),
    (
        "refine_int",
        cfg(BASE, SPEX, "options = { refine = 1 }\n"),
        "[algorithm] options.refine: 1 is not a valid refine for spex (expected bool)",
    ),
    (
        "noise_negative",
        cfg(BASE, SPEX, "options = { noise_sd = -1.0 }\n"),
        "[algorithm] options.noise_sd: noise_sd must be a finite non-negative number",
    ),
    ("unknown_option", cfg(BASE, SPEX, "options = { depth = 3 }\n"), "[algorithm] options: spex has no option 'depth'"),
    (
        "proxyspex_basis",
        cfg(BASE, '[algorithm]\nname = "proxyspex"\nbudget = 100\noptions = { basis = "haar" }\n'),
        "[algorithm] options.basis: basis must be 'auto', 'fourier' or 'mobius'",
    ),
    (
        "proxyspex_depths",
        cfg(BASE, '[algorithm]\nname = "proxyspex"\nbudget = 100\nmax_order = 2\noptions = { depths = [2, 5] }\n'),
        "[algorithm] options.depths: depths (2, 5) exceed max_order=2",
    ),
    (
        "proxyspex_depths_float",
        cfg(BASE, '[algorithm]\nname = "proxyspex"\nbudget = 100\noptions = { depths = [2.5] }\n'),
        "[algorithm] options.depths: [2.5] is not a valid depths",
    ),
    (
        "lasso_basis",
        cfg(BASE, '[algorithm]\nname = "lasso"\nbudget = 100\noptions = { basis = "x" }\n'),
        "[algorithm] options.basis: basis must be 'fourier' or 'mobius'",
    ),
    (
        "pairwise_screen_bool",
        cfg(BASE, '[algorithm]\nname = "pairwise"\noptions = { screen = true }\n'),
        "[algorithm] options.screen: True is not a valid screen for pairwise",
    ),
    ("unknown_algorithm", cfg(BASE, '[algorithm]\nname = "spexx"\n'), "[algorithm] name: unknown algorithm 'spexx'"),
    ("unknown_section", cfg(BASE, EXH, "[outputs]\ntop = 3\n"), "unknown section [outputs]; did you mean 'output'?"),
    ("unknown_key", cfg(BASE, EXH, "[output]\nflush = 3\n"), "unknown key 'flush' in [output]"),
    ("two_model_sources", cfg(BASE, 'hf = "x"\n', EXH), "[model] needs exactly one of 'zoo', 'hf' or 'entry'"),
    (
        "device_absent",
        cfg(BASE, 'device = "cuda:7"\n', EXH),
        "[model] device: 'cuda:7' is not available on this machine",
    ),
    ("device_unknown", cfg(BASE, 'device = "gpu9"\n', EXH), "[model] device: unknown device 'gpu9'"),
    (
        "target_out_of_vocab",
        cfg(BASE, TOKENS, '[metric]\nkind = "logprob"\ntarget = 999\n', EXH),
        "[metric] target: token id 999 is outside the vocabulary (0 … 3)",
    ),
    (
        "target_float",
        cfg(BASE, TOKENS, '[metric]\nkind = "logprob"\ntarget = [1, 1.5]\n', EXH),
        "[metric] target: 1.5 is not an integer",
    ),
    (
        "target_bool_in_list",
        cfg(BASE, TOKENS, '[metric]\nkind = "logprob"\ntarget = [1, true]\n', EXH),
        "[metric] target: True is not an integer",
    ),
    (
        "correct_out_of_vocab",
        cfg(BASE, TOKENS, '[metric]\nkind = "logit_diff"\ncorrect = 7\nincorrect = 0\n', EXH),
        "[metric] correct: token id 7 is outside the vocabulary",
    ),
    (
        "position_past_prompt",
        cfg(BASE, TOKENS, LOGIT, "position = 6\n", EXH),
        "[metric] position: 6 is outside prompt 0 of length 6 (-6 … 5)",
    ),
    (
        "position_negative_past",
        cfg(BASE, TOKENS, LOGIT, "position = -7\n", EXH),
        "[metric] position: -7 is outside prompt 0 of length 6",
    ),
    (
        "position_rows_mismatch",
        cfg(BASE, TOKENS, LOGIT, "position = [[1], [2], [3]]\n", EXH),
        "[metric] position: 3 per-prompt lists for 2 prompts",
    ),
    ("empty_tokens", cfg(BASE, "[prompts]\ntokens = []\n", LOGIT, EXH), "[prompts] tokens: no prompts"),
    (
        "empty_prompt_row",
        cfg(BASE, "[prompts]\ntokens = [[0, 1], []]\n", LOGIT, EXH),
        "[prompts] tokens: prompt 1 is empty",
    ),
    (
        "token_out_of_vocab",
        cfg(BASE, "[prompts]\ntokens = [[0, 1, 9]]\n", LOGIT, EXH),
        "[prompts] tokens: prompt 0, position 2: token id 9 is outside the vocabulary",
    ),
    (
        "token_negative",
        cfg(BASE, "[prompts]\ntokens = [[0, -1]]\n", LOGIT, EXH),
        "token id -1 is outside the vocabulary",
    ),
    (
        "prompt_longer_than_n_ctx",
        cfg(BASE, "[prompts]\ntokens = [[" + ", ".join(["1"] * 17) + "]]\n", LOGIT, EXH),
        "[prompts] tokens: prompt 0 has 17 tokens, longer than the model's context n_ctx=16",
    ),
    (
        "tokens_file_missing",
        cfg(BASE, '[prompts]\ntokens = "nowhere.json"\n', LOGIT, EXH),
        "[prompts] tokens: file not found",
    ),
    (
        "reference_out_of_vocab",
        cfg(BASE, TOKENS, LOGIT, '[ablation]\nkind = "mean"\nreference = [[0, 8]]\n', EXH),
        "[ablation] reference: prompt 0, position 1: token id 8 is outside",
    ),
    (
        "resample_reference_shape",
        cfg(BASE, TOKENS, LOGIT, '[ablation]\nkind = "resample"\nreference = [[0, 1]]\n', EXH),
        "[ablation] reference: resample reference has 1 prompts, "
        "but there are 2 prompts: pair one corrupted prompt with each clean prompt",
    ),
    (
        "heads_float",
        cfg(BASE, "[units]\nheads = { heads = [1.5] }\n", EXH),
        "[units] heads.heads: 1.5 is not an integer",
    ),
    (
        "heads_bool",
        cfg(BASE, "[units]\nheads = { heads = [true] }\n", EXH),
        "[units] heads.heads: True is not an integer",
    ),
    (
        "layers_float",
        cfg(BASE, "[units]\nheads = { layers = [0.0] }\n", EXH),
        "[units] heads.layers: 0.0 is not an integer",
    ),
    (
        "neuron_float",
        cfg(BASE, "[units]\nneurons = [{ layer = 0, neurons = [1.5] }]\n", EXH),
        "[units] neurons[0].neurons: 1.5 is not an integer",
    ),
    (
        "entry_malformed",
        cfg('[model]\nentry = "no_colon"\n', EXH),
        "[model] entry: entry point must look like 'module:function'",
    ),
    (
        "metric_unknown",
        cfg(BASE, TOKENS, '[metric]\nkind = "accuracy"\n', EXH),
        "[metric] kind: unknown metric 'accuracy'",
    ),
]


@pytest.mark.parametrize("case_id, body, message", CONFIG_CASES, ids=[c[0] for c in CONFIG_CASES])
def test_bad_config_is_one_line_and_exit_2(tmp_path, capsys, case_id, body, message):
    path = tmp_path / "bad.toml"
    path.write_text(body)
    before = list(sys.path)
    code = main(["check", str(path)])
    captured = capsys.readouterr()
    assert sys.path == before  # check leaves sys.path as it found it
    lines = [ln for ln in captured.err.strip().splitlines() if not ln.startswith("spex-mech check: loads the model")]
    if message is None:
        assert code == 0, captured.err
        return
    assert code == 2, captured
    assert len(lines) == 1 and lines[0].startswith("spex-mech: config error: "), captured.err
    assert message in lines[0], lines[0]


def test_check_says_it_loads_the_model_and_restores_sys_path(tmp_path, capsys):
    (tmp_path / "my_model.py").write_text(
        "from spex_mech.zoo import planted\n\ndef load():\n    return planted.load()\n"
    )
    (tmp_path / "c.toml").write_text('[model]\nentry = "my_model:load"\n' + TOKENS + LOGIT + EXH)
    before = list(sys.path)
    assert main(["check", str(tmp_path / "c.toml")]) == 0
    captured = capsys.readouterr()
    assert "loads the model" in captured.err and "entry functions are code" in captured.err
    assert captured.out.startswith("ok: 12 units, exhaustive, planned evaluations 4096")
    assert sys.path == before and str(tmp_path) not in sys.path


def _f(masks):
    return np.asarray(masks, dtype=float).sum(axis=1)


def _api_cases():
    import spex_mech as sm
    from spex_mech.registry import check_call

    return [
        ("spex_budget_float", lambda: sm.spex(_f, 8, budget=1.5), "budget must be an integer"),
        ("spex_decoder", lambda: sm.spex(_f, 8, decoder="x"), "decoder must be 'soft' or 'hard'"),
        ("spex_max_order_bool", lambda: sm.spex(_f, 8, max_order=True), "max_order must be an integer"),
        ("proxyspex_budget_bool", lambda: sm.proxyspex(_f, 8, budget=True), "budget must be an integer ≥ 10, got True"),
        ("proxyspex_budget_small", lambda: sm.proxyspex(_f, 8, budget=9), "budget must be an integer ≥ 10, got 9"),
        ("lasso_basis", lambda: sm.lasso(_f, 8, budget=100, basis="x"), "basis must be 'fourier' or 'mobius'"),
        (
            "registry_seed_float",
            lambda: check_call("spex", 8, {"seed": 1.5}),
            "1.5 is not a valid seed for spex (expected int)",
        ),
        (
            "registry_seed_bool",
            lambda: check_call("proxyspex", 8, {"budget": 100, "seed": True}),
            "True is not a valid seed for proxyspex",
        ),
        (
            "registry_unknown",
            lambda: check_call("lasso", 8, {"budget": 100, "depth": 2}),
            "lasso has no option 'depth'",
        ),
    ]


@pytest.mark.parametrize("index", range(9))
def test_bad_api_call_names_the_argument(index):
    name, call, message = _api_cases()[index]
    with pytest.raises(ValueError) as err:
        call()
    assert message in str(err.value), (name, str(err.value))
