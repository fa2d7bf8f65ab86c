"""Feature lens (issue 6): token and span units, teacher-forced original-output metric, combined games,
and the negation interaction on the committed sentiment model.

Oracles: plain forward passes of hand-edited token rows (one per mask), hooks written here, the
sentiment language's own rule; never the engine's output.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import spex_mech as sm
from spex_mech.units.tokens import TeacherForced, TokenUnits, original_output, resolve_spans, word_spans
from spex_mech.zoo import sentiment

from .conftest import build_tiny, reference_masked_values

BASELINE = 0


@pytest.fixture(scope="module")
def model():
    return build_tiny(attn_only=False, seed=3)


def _teacher_forced_oracle(model, rows: torch.Tensor, positions, targets) -> np.ndarray:
    """Mean log p(target) at the read positions, from a plain forward pass per row."""
    out = []
    with torch.no_grad():
        for row in rows:
            logp = torch.log_softmax(model(row[None]).double()[0], dim=-1)
            out.append(float(np.mean([logp[p, t].item() for p, t in zip(positions, targets)])))
    return np.array(out)


def _random_layout(rng: np.random.Generator, length: int) -> list:
    """Random non-overlapping spans over a random subset of positions, in every accepted form."""
    chosen = rng.permutation(length)[: rng.integers(2, length + 1)]
    cuts = np.sort(
        rng.choice(np.arange(1, chosen.size), size=rng.integers(0, min(4, chosen.size - 1) + 1), replace=False)
    )
    spans = []
    for part in np.split(chosen, cuts):
        part = np.sort(part)
        contiguous = part[-1] - part[0] + 1 == part.size
        if part.size == 1 and rng.random() < 0.5:
            spans.append(int(part[0]))
        elif contiguous and rng.random() < 0.5:
            spans.append((int(part[0]), int(part[-1]) + 1))
        else:
            spans.append([int(p) for p in rng.permutation(part)])
    return spans


def _positions_of(span) -> list[int]:
    if isinstance(span, int):
        return [span]
    if isinstance(span, tuple):
        return list(range(*span))
    return sorted(span)


# ------------------------------------------------------------------------------------ addressing
def test_random_span_layouts_replace_exactly_their_positions(model):
    """Property test: for random layouts and masks, each value equals a plain forward pass of the prompt
    with exactly the ablated spans' positions replaced by the baseline token (batched = per mask)."""
    rng = np.random.default_rng(0)
    prompt = torch.randint(1, 40, (9,), generator=torch.Generator().manual_seed(5))
    out = original_output(model, prompt, max_new_tokens=3)
    for trial in range(4):
        spans = _random_layout(rng, out.prompt_length)
        units = TokenUnits(model, out, spans=spans, mask=BASELINE)
        game = sm.AblationGame(model, units, out.tokens, out.metric(), batch_size=3)
        masks = rng.random((5, len(spans))) < 0.5
        masks[0] = True
        rows = out.tokens[0].repeat(masks.shape[0], 1)
        for r, mask in enumerate(masks):
            for j, span in enumerate(spans):
                if not mask[j]:
                    rows[r, _positions_of(span)] = BASELINE
        want = _teacher_forced_oracle(model, rows, out.positions[0], out.targets[0])
        got = game(masks)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5, err_msg=f"layout {spans}")


def test_embed_zero_zeroes_exactly_the_span_embeddings(model):
    rng = np.random.default_rng(1)
    prompt = torch.randint(1, 40, (2, 8), generator=torch.Generator().manual_seed(6))
    out = original_output(model, prompt, max_new_tokens=2)
    spans = _random_layout(rng, out.prompt_length)
    units = TokenUnits(model, out, spans=spans, mask="embed_zero")
    game = sm.AblationGame(model, units, out.tokens, out.metric(), batch_size=4)
    masks = rng.random((6, len(spans))) < 0.5
    want = []
    for mask in masks:
        dead = [p for j, span in enumerate(spans) if not mask[j] for p in _positions_of(span)]

        def zero(act, hook=None, dead=dead):
            act = act.clone()
            act[:, dead] = 0
            return act

        with torch.no_grad():
            logits = model.run_with_hooks(out.tokens, fwd_hooks=[("hook_embed", zero)])
        logp = torch.log_softmax(logits.double(), dim=-1)
        per_prompt = [
            np.mean([logp[i, p, t].item() for p, t in zip(out.positions[i], out.targets[i])]) for i in range(2)
        ]
        want.append(np.mean(per_prompt))
    np.testing.assert_allclose(game(masks), want, rtol=1e-5, atol=1e-5)


def test_token_units_combine_with_heads_in_one_game(model):
    """TokenUnits + AttentionHeads: one index space; each row equals hand-replaced tokens run with the
    conftest's one-mask-at-a-time head ablation."""
    rng = np.random.default_rng(2)
    tokens = torch.randint(1, 40, (3, 10), generator=torch.Generator().manual_seed(7))
    spans = [(1, 3), 4, [6, 8]]
    units = TokenUnits(model, tokens, spans=spans, mask=BASELINE) + sm.AttentionHeads(model, layers=[1])
    assert units.labels[3:] == ["L1H0", "L1H1", "L1H2", "L1H3"]
    metric = sm.metrics.logprob(position=-1, target=[3, 5, 7])
    game = sm.AblationGame(model, units, tokens, metric, ablation="mean")
    masks = rng.random((8, units.n)) < 0.5
    masks[0] = True
    heads = [(1, h) for h in range(4)]

    def value(logits):
        logp = torch.log_softmax(logits[:, -1].double(), dim=-1)
        return logp[torch.arange(3), torch.tensor([3, 5, 7])]

    want = []
    for mask in masks:
        rows = tokens.clone()
        for j, span in enumerate(spans):
            if not mask[j]:
                rows[:, _positions_of(span)] = BASELINE
        want.append(reference_masked_values(model, rows, mask[None, 3:], heads, [], "mean", tokens, value)[0])
    np.testing.assert_allclose(game(masks), want, rtol=1e-5, atol=1e-5)


def test_teacher_forced_metric_matches_stepwise_scoring(model):
    """One pass over prompt + continuation = the log-probs of a generation loop, token by token."""
    prompt = torch.randint(1, 40, (2, 6), generator=torch.Generator().manual_seed(8))
    out = original_output(model, prompt, max_new_tokens=4)
    assert isinstance(out, TeacherForced) and out.tokens.shape == (2, 6 + 3)
    stepwise = []
    with torch.no_grad():
        for i in range(2):
            seq, lps = prompt[i : i + 1], []
            for _ in range(4):
                logp = torch.log_softmax(model(seq)[0, -1].double(), dim=-1)
                nxt = int(logp.argmax())
                lps.append(float(logp[nxt]))
                seq = torch.cat([seq, torch.tensor([[nxt]])], dim=1)
            assert out.continuation[i].tolist() == seq[0, 6:].tolist()
            stepwise.append(lps)
    units = TokenUnits(model, out, spans=[0, (1, 3)], mask=BASELINE)
    mean_game = sm.AblationGame(model, units, out.tokens, out.metric())
    sum_game = sm.AblationGame(model, units, out.tokens, out.metric("sum"))
    np.testing.assert_allclose(mean_game.clean_value, np.mean(stepwise), rtol=1e-5)
    np.testing.assert_allclose(sum_game.clean_value, np.mean(np.sum(stepwise, axis=1)), rtol=1e-5)


def test_given_continuation_and_default_units_cover_the_prompt(model):
    prompt = torch.tensor([4, 9, 13, 2, 21])
    out = original_output(model, prompt, continuation=[7, 8])
    assert out.tokens[0].tolist() == [4, 9, 13, 2, 21, 7]
    assert out.positions == [[4, 5]] and out.targets == [[7, 8]]
    units = TokenUnits(model, out, mask=BASELINE)
    assert units.n == 5
    assert units.ids[0] == "tokens[0]" and units.labels[2] == 'tok2:"13"'
    assert units.token_sites[0].positions == (0, 1, 2, 3, 4)


# ------------------------------------------------------------------------------------ labels, spans
def test_labels_and_ids_name_tokens_and_spans(model):
    tokens = torch.tensor(sentiment.encode("the movie was not very good"))
    units = TokenUnits(model, tokens, spans=[4, (5, 7), [1, 3]], mask=BASELINE, decode=sentiment.VOCAB)
    assert units.labels == ['tok4:"not"', 'tok5-6:"very good"', 'tok1,3:"the was"']
    assert units.ids == ["tokens[4]", "tokens[5:7]", "tokens[1,3]"]
    zero = TokenUnits(model, tokens, spans=[4], mask="embed_zero", names=["NEG"])
    assert zero.ids == ["hook_embed[4]"] and zero.labels == ['tok4:"NEG"']
    assert zero.sites[0].hook == "hook_embed" and zero.sites[0].dim == 1 and zero.sites[0].ablation == "zero"


def test_word_spans_group_subword_pieces():
    pieces = ["<bos>", "Ġthe", "Ġmov", "ie", "Ġwas", "n", "'t", "Ġgood", "."]
    assert word_spans(pieces, start=1) == [(1,), (2, 3), (4, 5), (6,), (7,), (8,)]


@pytest.mark.parametrize(
    "spans, message",
    [
        ([(1, 4), 3], "span 1 (3) overlaps span 0 at position 3"),
        ([[0, 2], [5, 2]], "span 1 ([5, 2]) overlaps span 0 at position 2"),
        ([(2, 9)], "span 0 ((2, 9)) addresses position 8, outside the prompt (positions 0..7)"),
        ([1, 12], "span 1 (12) addresses position 12"),
        ([-9], "span 0 (-9) addresses position -9"),
        ([(3, 3)], "span 0 ((3, 3)) is empty"),
        ([[]], "span 0 ([]) is empty"),
        ([[2, 2]], "span 0 ([2, 2]) lists a position twice"),
    ],
)
def test_bad_spans_name_the_span(spans, message):
    with pytest.raises(ValueError) as err:
        resolve_spans(spans, 8)
    assert message in str(err.value)


def test_bad_mask_and_token_inputs_are_clear(model):
    tokens = torch.arange(1, 9)
    with pytest.raises(ValueError, match="no pad token"):
        TokenUnits(model, tokens, mask="pad")
    with pytest.raises(ValueError, match="mask must be one of"):
        TokenUnits(model, tokens, mask="blank")
    with pytest.raises(ValueError, match="outside the vocabulary"):
        TokenUnits(model, tokens, mask=400)
    with pytest.raises(ValueError, match="2 names given for 3 spans"):
        TokenUnits(model, tokens, spans=[1, 2, 3], mask=0, names=["a", "b"])
    with pytest.raises(TypeError, match="tokenizer"):
        TokenUnits(model, "the movie", mask=0)
    with pytest.raises(ValueError, match="exceeds the model's context"):
        original_output(model, torch.arange(1, 20), max_new_tokens=10)


# ------------------------------------------------------------------------------------ sentiment model
@pytest.fixture(scope="module")
def sentiment_model():
    return sentiment.load()


def test_sentiment_model_follows_the_rule(sentiment_model):
    """The committed model labels fresh sentences as the language's rule does, masked ones included."""
    assert sentiment.accuracy(sentiment_model, n=500, seed=11, mask_share=0.0) >= 0.99
    assert sentiment.accuracy(sentiment_model, n=500, seed=12, mask_share=1.0) >= 0.97


@pytest.mark.parametrize(
    "sentence, negator, adjective",
    [
        ("the movie was not good", "not", "good"),
        ("honestly the plot was never very boring", "never", "boring"),
        ("this film is not really lovely", "not", "lovely"),
        ("the cast felt never dull", "never", "dull"),
    ],
)
def test_negation_is_the_top_interaction(sentiment_model, sentence, negator, adjective):
    """Exhaustive feature lens: the top Möbius term is negator × adjective (the rule's pair). Neither
    word alone moves the output from the empty prompt, yet dropping either from the full prompt
    destroys it: a pure pair effect that no per-word score can express."""
    game = sentiment.game(sentence, sentiment_model)
    words = sentence.split()
    neg, adj = words.index(negator), words.index(adjective)
    label = sentiment.rule_label(sentiment.encode(sentence)[1:-1])
    assert game.metric.targets[0, 0].item() == label  # the original output is the rule's label
    exact = sm.exhaustive(game)
    top = exact.top(1)[0]
    assert top.units == (neg, adj) and top.value > 0
    assert top.labels == (f'tok{neg + 1}:"{negator}"', f'tok{adj + 1}:"{adjective}"')
    table = exact.values_table  # index bit j = word j kept
    everything, nothing = (1 << game.n) - 1, 0
    for word in (neg, adj):
        add = table[1 << word] - table[nothing]  # the word alone, from the empty prompt
        drop = table[everything] - table[everything ^ (1 << word)]  # dropped from the full prompt
        assert abs(add) < 0.25 * top.value and drop > 0.5 * top.value


def test_proxyspex_finds_negation_in_a_long_sentence(sentiment_model):
    sentence = "honestly the acting was really dull and the story was not very good"
    game = sentiment.game(sentence, sentiment_model)
    assert game.n == 13
    result = sm.proxyspex(game, budget=600, max_order=3, seed=0)
    top = result.top(1, min_order=2)[0]
    words = sentence.split()
    assert top.units == (words.index("not"), words.index("good"))
