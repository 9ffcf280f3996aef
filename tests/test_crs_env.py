"""orl-envs conversational recommendation (UNICORN/SCPR simulator): hand-checked transitions, rewards and metrics,
check_env on every id, exact seeding, the graph helper, the baselines and MaskablePPO through the flattening
wrapper."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import orl_envs
from orl_envs.crs import (
    CRS_IDS,
    REWARDS,
    ConversationalRecEnv,
    CRSGraph,
    FlattenedCRS,
    absolute_greedy_policy,
    evaluate,
    generate_graph,
    graph_arrays,
    hdcg,
    load_scpr,
    max_entropy_policy,
    summarize,
    to_pyg_data,
)

gym.register_envs(orl_envs)

# 5 items, 4 attributes; attributes 0,1 form category 0 and 2,3 category 1 (enumerated mode).
ITEM_ATTRS = np.array([[1, 1, 0, 0],   # item 0: {0, 1}
                       [1, 0, 1, 0],   # item 1: {0, 2}
                       [0, 1, 0, 1],   # item 2: {1, 3}
                       [1, 1, 0, 1],   # item 3: {0, 1, 3}   <- target
                       [0, 0, 1, 0]],  # item 4: {2}
                      dtype=bool)


def _hand_env(**kw) -> ConversationalRecEnv:
    graph = CRSGraph([np.arange(5)], ITEM_ATTRS, attribute_category=np.array([0, 0, 1, 1]), name="hand")
    kw = dict(n_attribute_slots=4, n_item_slots=5, rec_size=1, embedding_dim=4) | kw
    return ConversationalRecEnv(graph, **kw)


def _slot(obs, kind: str, ident: int, env: ConversationalRecEnv) -> int:
    ids = obs["action_ids"]
    rng = range(env.k_p) if kind == "question" else range(env.k_p, env.k_p + env.k_v)
    for i in rng:
        if ids[i] == ident and obs["action_mask"][i]:
            return i
    raise AssertionError(f"{kind} {ident} not among the action slots {ids.tolist()}")


def test_hand_written_binary_dialogue():
    env = _hand_env()
    obs, _ = env.reset(seed=0, options=dict(user=0, item=3, opening=0))
    assert obs["turn"][0] == 1
    assert obs["candidate_items"].tolist() == [1, 1, 0, 1, 0]          # items having attribute 0
    assert obs["accepted"].tolist() == [1, 0, 0, 0]
    # Askable attributes: present among candidates and not asked -> {1, 2, 3}; attribute 0 is accepted.
    assert sorted(obs["action_ids"][:4][obs["action_mask"][:4] == 1].tolist()) == [1, 2, 3]
    assert sorted(obs["action_ids"][4:][obs["action_mask"][4:] == 1].tolist()) == [0, 1, 3]
    # Ask attribute 2: the target lacks it -> rejected, no filtering, -0.1.
    obs, r, term, trunc, info = env.step(_slot(obs, "question", 2, env))
    assert (r, term, trunc, info["turn"]) == (REWARDS["ask_fail"], False, False, 2)
    assert obs["rejected"].tolist() == [0, 0, 1, 0] and obs["candidate_items"].tolist() == [1, 1, 0, 1, 0]
    # Ask attribute 1: accepted -> candidates {0, 3}, +0.01.
    obs, r, term, _, _ = env.step(_slot(obs, "question", 1, env))
    assert (r, term) == (REWARDS["ask_suc"], False)
    assert obs["candidate_items"].tolist() == [1, 0, 0, 1, 0] and obs["accepted"].tolist() == [1, 1, 0, 0]
    # Recommend item 0 (list of one): failure, it leaves the candidates, -0.1.
    obs, r, term, _, _ = env.step(_slot(obs, "item", 0, env))
    assert (r, term) == (REWARDS["rec_fail"], False)
    assert obs["candidate_items"].tolist() == [0, 0, 0, 1, 0]
    # Recommend item 3: success at turn 5, rank 1, +1; hDCG(5, 1) = 1 / log2(6).
    obs, r, term, _, info = env.step(_slot(obs, "item", 3, env))
    assert (r, term, info["success"], info["rank"], info["turn"]) == (REWARDS["rec_suc"], True, True, 1, 5)
    assert info["hdcg"] == pytest.approx(1 / np.log2(6))
    assert obs["action_mask"].sum() == 0


def test_rank_in_the_list_and_quit_at_the_last_turn():
    env = _hand_env(rec_size=3, max_turn=3)
    obs, _ = env.reset(seed=0, options=dict(user=0, item=3, opening=0))
    order = obs["action_ids"][4:][obs["action_mask"][4:] == 1].tolist()   # ranked candidates
    first = next(v for v in order if v != 3)
    _, r, term, _, info = env.step(_slot(obs, "item", first, env))
    rest = [v for v in order if v != first][:2]
    assert 3 in rest and term and r == REWARDS["rec_suc"]
    assert info["rank"] == 2 + rest.index(3) and info["turn"] == 2
    # Quit: with max_turn=3 the agent acts at turns 2 and 3; an ask at turn 3 ends with its reward - 0.3.
    obs, _ = env.reset(seed=0, options=dict(user=0, item=3, opening=0))
    obs, r, term, _, _ = env.step(_slot(obs, "question", 2, env))
    assert (r, term) == (REWARDS["ask_fail"], False)
    obs, r, term, _, info = env.step(_slot(obs, "question", 3, env))
    assert term and r == pytest.approx(REWARDS["ask_suc"] + REWARDS["until_T"])
    assert (info["success"], info["rank"], info["hdcg"], info["turn"]) == (False, 0, 0.0, 3)


def test_hand_written_enumerated_dialogue():
    env = _hand_env(mode="enumerated")
    obs, _ = env.reset(seed=0, options=dict(user=0, item=3, opening=0))
    assert sorted(obs["action_ids"][:4][obs["action_mask"][:4] == 1].tolist()) == [0, 1]   # categories
    # Category 1 = {2, 3}: the target has 3 -> accept 3, reject 2, candidates keep items having 3 -> {3}.
    obs, r, term, _, _ = env.step(_slot(obs, "question", 1, env))
    assert (r, term) == (REWARDS["ask_suc"], False)
    assert obs["accepted"].tolist() == [1, 0, 0, 1] and obs["rejected"].tolist() == [0, 0, 1, 0]
    assert obs["candidate_items"].tolist() == [0, 0, 0, 1, 0]
    # Category 1 was asked: it is no longer offered.
    assert 1 not in obs["action_ids"][:4][obs["action_mask"][:4] == 1].tolist()


def test_item_preference_is_the_codes_formula():
    env = _hand_env()
    obs, _ = env.reset(seed=0, options=dict(user=0, item=3, opening=0))
    env.step(_slot(obs, "question", 2, env))            # reject 2
    eu, ev, ep = env.e_user[0], env.e_item, env.e_attr
    sig = lambda x: 1 / (1 + np.exp(-x))               # noqa: E731
    want = ev @ eu + ev @ ep[0] - sig(ev @ ep[2]) * ITEM_ATTRS[:, 2]
    np.testing.assert_allclose(env.item_preference(), want, rtol=1e-5)


def test_hdcg_hand_computed_and_summary():
    assert hdcg(1, 1) == pytest.approx(1.0)
    assert hdcg(2, 3) == pytest.approx(0.5 + (1 / np.log2(3) - 0.5) / 2)
    assert hdcg(15, 10) == pytest.approx(1 / np.log2(17) + (1 / np.log2(16) - 1 / np.log2(17)) / np.log2(11))
    assert hdcg(7, 0) == 0.0
    with pytest.raises(ValueError, match="turn must be in"):
        hdcg(16, 1)
    s = summarize(np.array([3, 8, 12, 15]), np.array([1, 2, 1, 0]))
    assert s["SR@5"] == 0.25 and s["SR@10"] == 0.5 and s["SR@15"] == 0.75
    assert s["AT"] == pytest.approx((3 + 8 + 12 + 15) / 4)
    assert s["hDCG"] == pytest.approx((hdcg(3, 1) + hdcg(8, 2) + hdcg(12, 1)) / 4)


@pytest.mark.parametrize("env_id", list(CRS_IDS))
def test_registered_ids_pass_check_env(env_id):
    env = gym.make(env_id)
    check_env(env.unwrapped, skip_render_check=True)
    assert env_id in orl_envs.ENV_IDS


def test_seeding_is_exact():
    env = gym.make("orl/CRS-LastFM-v0").unwrapped
    trace = []
    for _ in range(2):
        obs, _ = env.reset(seed=123)
        t = [(int(obs["user"][0]), env.target)]
        done = False
        while not done:
            obs, r, done, _, _ = env.step(max_entropy_policy(obs, env))
            t.append((r, tuple(obs["action_ids"])))
        trace.append(t)
    assert trace[0] == trace[1]


def test_graph_helper_builds_the_same_graph_as_the_arrays():
    env = gym.make("orl/CRS-LastFM-v0").unwrapped
    obs, _ = env.reset(seed=1)
    obs, *_ = env.step(0)
    nodes, edges, w = graph_arrays(obs, env.edge_index)
    data = to_pyg_data(obs, env.edge_index)
    ids = data.x.numpy()
    assert np.array_equal(ids, nodes) and data.num_nodes == nodes.size
    got = {(int(ids[a]), int(ids[b]), round(float(x), 6))
           for a, b, x in zip(*data.edge_index.numpy(), data.edge_weight.numpy())}
    want = {(int(a), int(b), round(float(x), 6)) for a, b, x in zip(*edges, w)}
    want |= {(b, a, x) for a, b, x in want}
    assert got == want
    # The active graph is the one the docstring describes: user, candidate items, accepted + slot attributes.
    n_v = env.graph.n_items
    assert set(nodes[(nodes >= 1) & (nodes <= n_v)] - 1) == set(np.flatnonzero(obs["candidate_items"]))
    assert set(np.flatnonzero(obs["accepted"])) <= set(nodes[nodes > n_v] - 1 - n_v)


def test_generator_statistics_and_bad_input():
    g = generate_graph("lastfm", seed=0, n_users=50, n_items=200, interactions_per_user=20, attributes_per_item=5)
    s = g.statistics()
    assert (s["users"], s["items"], s["attributes"]) == (50, 200, 33)
    assert 17 < s["interactions_per_user"] < 23 and 4.3 < s["attributes_per_item"] < 5.7
    # Held-out test pairs are disjoint from the training interactions the embeddings see.
    assert all(not set(a) & set(b) for a, b in zip(g.user_items, g.test_user_items))
    y = generate_graph("yelp", seed=0, n_users=20, n_items=100)
    assert y.n_categories == 29 and y.n_attributes == 590
    # Skew concentrates attributes: the most popular attribute is much more common than the median one.
    counts = np.sort(y.item_attributes.sum(0))[::-1]
    assert counts[0] > 10 * max(np.median(counts), 1)
    with pytest.raises(ValueError, match="kind must be one of"):
        generate_graph("movielens")
    with pytest.raises(ValueError, match="unknown graph statistics"):
        generate_graph("lastfm", n_user=3)
    with pytest.raises(ValueError, match="mode must be"):
        ConversationalRecEnv(g, mode="ternary")
    with pytest.raises(ValueError, match="needs a graph with attribute categories"):
        ConversationalRecEnv(g, mode="enumerated")
    env = ConversationalRecEnv(g)
    obs, _ = env.reset(seed=0)
    with pytest.raises(ValueError, match="action must be in"):
        env.step(99)
    masked = np.flatnonzero(obs["action_mask"] == 0)
    if masked.size:
        with pytest.raises(ValueError, match="is masked"):
            env.step(int(masked[0]))


def test_baselines_on_a_generated_graph():
    env = gym.make("orl/CRS-LastFM-v0", split="test").unwrapped
    me = evaluate(env, max_entropy_policy, 100, seed=0)
    ag = evaluate(env, absolute_greedy_policy, 100, seed=0)
    for m in (me, ag):
        assert 0 <= m["SR@5"] <= m["SR@10"] <= m["SR@15"] <= 1 and 1 < m["AT"] <= 15
    # Asking narrows the candidates: max entropy finds more targets by turn 15 than always recommending.
    assert me["SR@15"] > ag["SR@15"]


def test_maskable_ppo_runs_through_the_flattening_wrapper():
    sb3c = pytest.importorskip("sb3_contrib")
    graph = generate_graph("lastfm", seed=0, n_users=20, n_items=60, interactions_per_user=8)
    env = FlattenedCRS(ConversationalRecEnv(graph))
    check_env(env.unwrapped, skip_render_check=True)
    assert env.observation_space.contains(env.reset(seed=0)[0])
    model = sb3c.MaskablePPO("MlpPolicy", env, n_steps=64, batch_size=32, n_epochs=1, seed=0, device="cpu")
    model.learn(128)
    obs, _ = env.reset(seed=0)
    action, _ = model.predict(obs, action_masks=env.action_masks())
    assert env.action_masks()[int(action)]


def _write(path, obj):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))


def test_scpr_layout_loader_binary_and_enumerated(tmp_path):
    g = tmp_path / "lastfm" / "Graph_generate_data"
    _write(g / "user_item.json", {"0": [0, 1, 2], "1": [3, 4]})
    _write(g / "item_dict.json", {str(v): {"feature_index": np.flatnonzero(row).tolist()}
                                  for v, row in enumerate(ITEM_ATTRS)})
    _write(tmp_path / "lastfm" / "UI_Interaction_data" / "review_dict_test.json", {"1": [0]})
    _write(tmp_path / "lastfm" / "UI_Interaction_data" / "review_dict_valid.json", {"0": [4]})
    graph = load_scpr(tmp_path / "lastfm")
    assert np.array_equal(graph.item_attributes, ITEM_ATTRS)
    assert [x.tolist() for x in graph.user_items] == [[0, 1, 2], [3, 4]]
    assert [x.tolist() for x in graph.test_user_items] == [[], [0]]
    env = ConversationalRecEnv(graph, split="test", n_attribute_slots=4, n_item_slots=5, embedding_dim=4)
    env.reset(seed=0)
    assert (env.user, env.target) == (1, 0)
    # The validation pairs (the code's RL training dialogues) come from review_dict_valid.json.
    assert [x.tolist() for x in graph.valid_user_items] == [[4], []]
    env = ConversationalRecEnv(graph, split="valid", n_attribute_slots=4, n_item_slots=5, embedding_dim=4)
    env.reset(seed=0)
    assert (env.user, env.target) == (0, 4)
    # Yelp layout: fine attributes in item_dict-original_tag.json, categories from the two-layer taxonomy.
    y = tmp_path / "yelp" / "Graph_generate_data"
    _write(y / "user_item.json", {"0": [0, 3]})
    _write(y / "item_dict-original_tag.json", {str(v): {"feature_index": np.flatnonzero(row).tolist()}
                                               for v, row in enumerate(ITEM_ATTRS)})
    _write(y / "2-layer taxonomy.json", {"food": [0, 1], "price": [2, 3]})
    _write(y / "first-layer_merged_tag_map.json", {"food": 0, "price": 1})
    yg = load_scpr(tmp_path / "yelp")
    assert yg.attribute_category.tolist() == [0, 0, 1, 1] and yg.test_user_items is None and yg.valid_user_items is None
    with pytest.raises(ValueError, match="split='valid' needs a graph with valid_user_items"):
        ConversationalRecEnv(yg, split="valid")
    ConversationalRecEnv(yg, mode="enumerated", n_attribute_slots=2, n_item_slots=5, embedding_dim=4).reset(seed=0)
    with pytest.raises(FileNotFoundError, match="Graph_generate_data"):
        load_scpr(tmp_path / "nowhere")


def test_transe_learns_the_graphs_triples():
    from orl_envs.crs import train_transe

    g = generate_graph("lastfm", seed=0, n_users=100, n_items=300)
    rng = np.random.default_rng(1)
    u = np.concatenate([np.full(len(v), i) for i, v in enumerate(g.user_items)])
    v = np.concatenate(g.user_items)
    v_neg = rng.integers(0, g.n_items, len(u))
    iv, ip = np.nonzero(g.item_attributes)
    p_neg = rng.integers(0, g.n_attributes, len(iv))

    def auc(eu, ev, ep, rel):
        d = lambda h, r, t: ((h + r - t) ** 2).sum(1)     # noqa: E731
        return (np.mean(d(eu[u], rel[0], ev[v]) < d(eu[u], rel[0], ev[v_neg])),
                np.mean(d(ev[iv], rel[1], ep[ip]) < d(ev[iv], rel[1], ep[p_neg])))

    untrained = auc(*train_transe(g, epochs=0))
    trained = auc(*train_transe(g))
    assert max(untrained) < 0.6 and min(trained) > 0.8, (untrained, trained)
    eu, ev, ep, rel = train_transe(g, dim=8, epochs=1)
    assert eu.shape == (100, 8) and ev.shape == (300, 8) and ep.shape == (33, 8) and rel.shape == (2, 8)
    with pytest.raises(ValueError, match="lr and margin"):
        train_transe(g, lr=0)


def test_transe_embeddings_option():
    """``embeddings="transe"`` ranks with the in-house TransE vectors (not the SVD ones); a bad name is refused."""
    g = generate_graph("lastfm", seed=0, n_users=20, n_items=100)
    svd = ConversationalRecEnv(g, split="test")
    transe = ConversationalRecEnv(g, split="test", embeddings="transe")
    assert transe.e_item.shape == (100, 64) and svd.e_item.shape[0] == 100  # SVD: at most users + attributes columns
    assert not np.allclose(transe.e_item[:, : svd.e_item.shape[1]], svd.e_item)
    from orl_envs.crs import train_transe

    assert np.array_equal(transe.e_attr, train_transe(g, dim=64, seed=0)[2])
    obs, _ = transe.reset(seed=0)
    assert obs["action_mask"].any()
    with pytest.raises(ValueError, match="embeddings must be 'svd' or 'transe', got 'glove'"):
        ConversationalRecEnv(g, embeddings="glove")


def test_generated_validation_split_is_disjoint_and_held_out():
    """``valid_share`` holds out validation pairs besides the test pairs; the embeddings' training interactions,
    the validation and the test pairs are disjoint and together are the user's items; bad shares are refused."""
    g = generate_graph("lastfm", seed=0, n_users=30, n_items=200)
    for u in range(g.n_users):
        tr, va, te = (set(x[u].tolist()) for x in (g.user_items, g.valid_user_items, g.test_user_items))
        assert not (tr & va or tr & te or va & te) and tr
    assert sum(len(v) for v in g.valid_user_items) > 0.05 * sum(len(v) for v in g.user_items)
    with pytest.raises(ValueError, match=r"valid_share must be in \[0, 1 - test_share=0.8\), got 0.9"):
        generate_graph("lastfm", seed=0, valid_share=0.9)
