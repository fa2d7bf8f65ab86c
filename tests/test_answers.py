"""String answers (one token each, refused with their tokenization otherwise) and the no-target default."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import spex_mech as sm
from spex_mech import metrics
from spex_mech.cli import main

from ._hf_folders import boot, gpt2_folder

pytest.importorskip("transformers")
pytest.importorskip("tokenizers")

PROMPTS = ["When Mary and John went to the store, John gave a drink to", "the cat sat on the", "this movie was very"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return gpt2_folder(tmp_path_factory.mktemp("gpt2_answers"))


@pytest.fixture(scope="module")
def model(folder):
    return boot(folder)


def _id(model, word):
    ids = model.to_tokens(word, prepend_bos=False)[0].tolist()
    assert len(ids) == 1
    return ids[0]


def _masks(n):
    m = np.random.default_rng(3).random((6, n)) < 0.5
    m[0] = True
    return m


def test_string_answers_equal_their_ids(model):
    units = sm.AttentionHeads(model)
    masks = _masks(len(units))
    good, mary, john = _id(model, " good"), _id(model, " Mary"), _id(model, " John")
    pairs = [
        (metrics.logprob(" good"), metrics.logprob(good)),
        (metrics.prob(" good"), metrics.prob(good)),
        (metrics.logit_diff(" Mary", " John"), metrics.logit_diff(mary, john)),
        (metrics.logprob([" Mary", " good", " bad"]), metrics.logprob([mary, good, _id(model, " bad")])),
        (metrics.logit_diff([" Mary", " mat", " good"], [" John", john, " bad"]),
         metrics.logit_diff([mary, _id(model, " mat"), good], [john, john, _id(model, " bad")])),
    ]
    for text_metric, id_metric in pairs:
        a = sm.AblationGame(model, units, PROMPTS, text_metric)(masks)
        b = sm.AblationGame(model, units, PROMPTS, id_metric)(masks)
        np.testing.assert_array_equal(a, b)


def test_logit_diff_string_answer_against_plain_forward(model):
    game = sm.AblationGame(model, sm.AttentionHeads(model), PROMPTS, metrics.logit_diff(" Mary", " John"))
    mary, john = _id(model, " Mary"), _id(model, " John")
    want = []
    for s in PROMPTS:
        with torch.no_grad():
            logits = model(model.to_tokens(s))[0, -1].double()
        want.append(float(logits[mary] - logits[john]))
    assert game.clean_value == pytest.approx(np.mean(want), rel=1e-5)


def test_multi_token_answer_refused_with_its_tokenization(model):
    with pytest.raises(ValueError, match=r"the answer ' Maryland' is \d+ tokens \[.*\] \(ids \[.*\]\), not one"):
        sm.AblationGame(model, sm.AttentionHeads(model), PROMPTS, metrics.logprob(" Maryland"))
    with pytest.raises(ValueError, match="not one"):
        sm.AblationGame(model, sm.AttentionHeads(model), PROMPTS, metrics.logit_diff(" Mary", " Johnny boy"))


def test_string_answer_needs_a_tokenizer(tiny_model, tiny_tokens):
    with pytest.raises(TypeError, match="no tokenizer"):
        sm.AblationGame(tiny_model, sm.AttentionHeads(tiny_model), tiny_tokens, metrics.logprob(" good"))


def test_logprob_without_target_scores_clean_top1_at_the_last_token(model):
    game = sm.AblationGame(model, sm.AttentionHeads(model), PROMPTS, metrics.logprob())
    want, top = [], []
    for s in PROMPTS:
        with torch.no_grad():
            lp = torch.log_softmax(model(model.to_tokens(s))[0, -1].double(), -1)
        want.append(float(lp.max()))
        top.append(int(lp.argmax()))
    assert game.clean_value == pytest.approx(np.mean(want), rel=1e-5)
    assert game.metric.targets[:, 0].tolist() == top
    masks = _masks(game.n)
    np.testing.assert_allclose(
        game(masks), sm.AblationGame(model, sm.AttentionHeads(model), PROMPTS, metrics.logprob(top))(masks), rtol=1e-6
    )
    # earlier positions keep the prompt's own next token
    nxt = sm.AblationGame(model, sm.AttentionHeads(model), PROMPTS, metrics.logprob(position=[1, -1]))
    assert nxt.metric.targets[:, 0].tolist() == [model.to_tokens(s)[0, 2].item() for s in PROMPTS]
    assert nxt.metric.targets[:, 1].tolist() == top


def _write(tmp_path, folder, metric_lines):
    cfg = tmp_path / "sweep.toml"
    cfg.write_text(
        f'[model]\nhf = "{folder}"\n\n[prompts]\ntext = {json.dumps(PROMPTS)}\n\n[metric]\n{metric_lines}\n\n'
        '[units]\nheads = {layers = [1]}\n\n[ablation]\nkind = "mean"\n\n[algorithm]\nname = "exhaustive"\n\n'
        "[output]\nfigures = [\"png\"]\nfaithfulness_samples = 0\n"
    )
    return cfg


def test_cli_string_answers_and_ragged_text(tmp_path, folder, model):
    cfg = _write(tmp_path, folder, 'kind = "logit_diff"\ncorrect = " Mary"\nincorrect = " John"')
    out = tmp_path / "run"
    assert main(["run", str(cfg), "--out", str(out), "--quiet"]) == 0
    fourier = json.loads((out / "results.json").read_text())["interactions"]
    game = sm.AblationGame(model, sm.AttentionHeads(model, layers=[1]), PROMPTS, metrics.logit_diff(" Mary", " John"))
    want = sm.exhaustive(game)
    got = sm.Interactions.from_dict(fourier)
    assert len(want.fourier) == 16 and np.ptp(list(want.fourier.values())) > 1e-3
    for key, val in want.fourier.items():
        assert got.fourier.get(key, 0.0) == pytest.approx(val, rel=1e-6, abs=1e-9)


def test_cli_multi_token_answer_is_a_config_error(tmp_path, folder, capsys):
    cfg = _write(tmp_path, folder, 'kind = "logprob"\ntarget = " Maryland"')
    assert main(["check", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "[metric] target" in err and "' Maryland'" in err and "not one" in err
