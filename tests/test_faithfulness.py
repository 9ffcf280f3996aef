"""Settings and update orders checked against the official codes (issue 15, items 13-16)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _compose(*overrides: str):
    """The configuration ``python -m orl.run`` trains with: Hydra's composition, then the tuned settings."""
    from hydra import compose, initialize_config_dir

    from orl.run import apply_tuned

    with initialize_config_dir(str(ROOT / "orl" / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=list(overrides))
        apply_tuned(cfg)
    return cfg


# CORL (tinkoff-ai/CORL, configs/offline/{iql,cql}/<env>/<dataset>_v2.yaml): normalize_reward per dataset
CORL_IQL_NORMALIZE_REWARD = {
    "halfcheetah-medium": False, "halfcheetah-medium-replay": False, "halfcheetah-medium-expert": False,
    "hopper-medium": True, "hopper-medium-replay": True, "hopper-medium-expert": False,
    "walker2d-medium": False, "walker2d-medium-replay": False, "walker2d-medium-expert": False,
}
CORL_CQL_NORMALIZE_REWARD = {**{k: False for k in CORL_IQL_NORMALIZE_REWARD}, "hopper-medium": True}


@pytest.mark.parametrize("dataset", sorted(CORL_IQL_NORMALIZE_REWARD))
def test_reward_normalisation_follows_corl_per_dataset(dataset):
    iql = _compose("algo=iql", f"env={dataset}")
    cql = _compose("algo=cql", f"env={dataset}")
    assert iql.algo.normalize_reward is CORL_IQL_NORMALIZE_REWARD[dataset], dataset
    assert cql.algo.normalize_reward is CORL_CQL_NORMALIZE_REWARD[dataset], dataset


def test_sampler_temperature_is_the_papers_per_algorithm(tmp_path):
    """Hong et al.'s harness (experiments/d4rl/run_{cql,iql,td3bc}.py): RW/AW temperature 0.2 for CQL,
    0.1 for IQL and TD3+BC; an explicit ``sampler_alpha`` wins."""
    from orl.data import load_dataset
    from orl.train.offline import Member, TrainConfig, sampler_alpha, train_population

    assert _compose("algo=cql", "env=hopper-medium", "sampler=aw").sampler_alpha is None
    assert (sampler_alpha("cql"), sampler_alpha("iql"), sampler_alpha("td3bc")) == (0.2, 0.1, 0.1)
    assert sampler_alpha("cql", 0.3) == 0.3
    data = load_dataset("pendulum-scripted")
    small = {"actor_hidden": [16], "critic_hidden": [16], "n_actions": 2}
    for sampler in ("rw", "aw"):
        result = train_population("cql", [Member(data, 0, "Pendulum-v1", small)], tmp_path / sampler,
                                  TrainConfig(steps=1, eval_episodes=1, sampler=sampler), progress=False)
        assert result["samplers"][0].alpha == 0.2, sampler
    result = train_population("cql", [Member(data, 0, "Pendulum-v1", small)], tmp_path / "explicit",
                              TrainConfig(steps=1, eval_episodes=1, sampler="rw", sampler_alpha=0.5), progress=False)
    assert result["samplers"][0].alpha == 0.5


def _official_a2pr_train(algo, batch) -> None:
    """``A2PR.train`` of the official code (``ltlhuuu/A2PR``, ``A2PR.py`` lines 100-215), transcribed
    line by line onto an orl :class:`~orl.algos.offline.a2pr.A2PR`'s networks and optimisers
    (actions already in [-1, 1], so ``max_action`` = 1)."""
    import torch
    import torch.nn.functional as F

    from orl.algos.base import soft_update

    c = algo.config
    algo.total_it += 1
    state, action, reward, next_state, not_done = algo.prepare(batch)
    with torch.no_grad():
        # torch.randn_like(action), drawn from the member's noise stream (orl's stand-in for torch's global one)
        noise = (algo.random.randn(*action.shape[1:]) * c.policy_noise).clamp(-c.noise_clip, c.noise_clip)
        next_action = (algo.actor_target(next_state) + noise).clamp(-1.0, 1.0)
        target_Q1, target_Q2 = algo.critic_target(next_state, next_action)
        target_Q = torch.min(target_Q1, target_Q2)
        target_Q = reward + not_done * c.discount * target_Q
    current_Q1, current_Q2 = algo.critic(state, action)
    critic_loss = F.mse_loss(current_Q1, target_Q) + F.mse_loss(current_Q2, target_Q)
    algo.critic_opt.zero_grad()
    critic_loss.backward()
    algo.critic_opt.step()
    with torch.no_grad():
        next_current_Q1, next_current_Q2 = algo.critic(next_state, next_action)
        next_Q = torch.min(next_current_Q1, next_current_Q2)
        targ_Q = reward + not_done * c.discount * next_Q
        t_Q = torch.min(targ_Q, target_Q)
    value = algo.value(state)
    value_loss = F.mse_loss(value, t_Q)
    algo.value_opt.zero_grad()
    value_loss.backward()
    algo.value_opt.step()
    recon, mean, std = algo.vae(state, action, algo.random)
    Q_vae = algo.critic.Q1(state, action)
    embedding = (Q_vae > value)
    weight_emb = c.vae_weight * embedding
    recon_loss = (weight_emb * torch.square(recon - action)).mean()
    KL_loss = -0.5 * (1 + torch.log(std.pow(2)) - mean.pow(2) - std.pow(2)).mean()
    vae_loss = recon_loss + 0.5 * KL_loss
    algo.vae_opt.zero_grad()
    vae_loss.backward()
    algo.vae_opt.step()
    if algo.total_it % c.policy_freq == 0:
        pi = algo.actor(state)
        Q = algo.critic.Q1(state, pi)
        lmbda = c.alpha / Q.abs().mean().detach()
        actor_loss = -lmbda * Q.mean()
        recon_pi, mean, std = algo.vae(state, pi, algo.random)
        Q_new = algo.critic.Q1(state, action)
        advantage_action = Q_new - value
        Q_pi = algo.critic.Q1(state, recon_pi)
        advantage_pi = Q_pi - value
        embedding_pi = recon_pi * (advantage_pi >= advantage_action)
        embedding_action = action * (advantage_action > advantage_pi)
        embedding = embedding_pi + embedding_action
        adv_pi = (Q_pi.detach() >= value.detach())
        adv_action = (Q_new.detach() > value.detach())
        adv = c.mask * (adv_pi + adv_action)
        bc_loss = (torch.square(pi - embedding) * adv).mean()
        combined_loss = actor_loss + bc_loss
        algo.actor_opt.zero_grad()
        combined_loss.backward()
        algo.actor_opt.step()
        soft_update(algo.critic_target, algo.critic, c.tau)
        soft_update(algo.actor_target, algo.actor, c.tau)


def test_a2pr_update_is_the_official_train_step():
    """One orl A2PR update equals the official ``A2PR.train`` on the same batch and random stream: in
    particular V(s) from *before* the value step gates the VAE and the actor, and the BC weight is
    ``mask * (bool + bool)``, a logical or, in {0, mask}. A large value learning rate (0.03) makes V move
    enough in one step that the post-step V would flip some gates (checked below, so the test cannot
    pass vacuously)."""
    import copy

    import numpy as np
    import torch

    from orl.data import load_dataset
    from orl.train.offline import make_algorithm

    data = load_dataset("pendulum-scripted")
    batch = data.sample(256, np.random.default_rng(0))
    torch.manual_seed(0)
    algo = make_algorithm("a2pr", data, np.array([-2.0]), np.array([2.0]),
                          {"actor_hidden": [32, 32], "critic_hidden": [32, 32], "vae_hidden": [32, 32],
                           "value_lr": 0.03, "policy_freq": 1, "mask": 0.7})
    rng = np.random.default_rng(1)
    for _ in range(100):  # leave the initial state, where V is below Q everywhere
        algo.update(data.sample(256, rng))
    reference = copy.deepcopy(algo)  # networks, optimisers and the noise generators' states

    s, a, *_ = reference.prepare(batch)
    v_before = reference.value(s).detach()
    metrics = algo.update(batch)
    _official_a2pr_train(reference, batch)

    # the gates are sensitive to which V is used: the post-step V would change some of them
    q_data = algo.critic.Q1(s, a).detach()
    v_after = algo.value(s).detach()
    assert ((q_data > v_before) != (q_data > v_after)).any()
    assert metrics["positive_adv_frac"].item() == pytest.approx((q_data > v_before).float().mean().item())
    for name in ("critic", "value", "vae", "actor", "critic_target", "actor_target"):
        for p, q in zip(getattr(algo, name).parameters(), getattr(reference, name).parameters()):
            torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6, msg=name)
    assert metrics["bc_weight"].item() <= 0.7 + 1e-6  # a mean of weights in {0, mask}


def test_hdpo_run_has_its_own_budget_and_dev_cadence():
    """``orl.run algo=hdpo`` trains with HDPO's step budget and dev cadence (the paper's code: up to 20000
    epochs, a dev evaluation every 10 epochs, an epoch = 4 steps of 8192 out of 32768 scenarios), not the
    offline defaults (1M updates, an evaluation every 5000); the test set is the paper's 32768 scenarios.
    The offline algorithms keep theirs, and the command line still wins."""
    from orl.algos.structured.hdpo import HDPOConfig

    cfg = _compose("algo=hdpo", "env=inventory-one-store-backlogged")
    epoch = cfg.algo.n_train // cfg.algo.batch_size
    assert (epoch, cfg.steps, cfg.eval_every, cfg.algo.patience) == (4, 20000 * 4, 10 * 4, 500 // 10)
    assert cfg.algo.n_test == HDPOConfig().n_test == 32768
    offline = _compose("algo=td3bc", "env=hopper-medium")
    assert (offline.steps, offline.eval_every) == (1_000_000, 5000)
    assert _compose("algo=hdpo", "env=inventory-one-store-backlogged", "steps=500").steps == 500


def _official_gnn_orders(policy, state):
    """The official GNN's forward (``MatiasAlvo/Neural_inventory_control``, ``neural_networks.py``, class
    ``GNN``: ``create_edge_features``, ``aggregate_messages``, ``message_passing_step``,
    ``_generate_outputs_from_edges``, ``_apply_proportional_allocation_to_graph``), transcribed with its
    generic adjacency matrix and per-edge loops, on ``policy``'s networks and scaled node features (the
    scaling is orl's declared deviation) for one warehouse and ``n`` stores."""
    import torch
    import torch.nn.functional as F

    n, b = policy.n_stores, state.batch_size
    n_nodes = 1 + n
    adjacency = torch.zeros(n_nodes, n_nodes)
    adjacency[0, 1:] = 1
    has_outside_supplier = torch.zeros(n_nodes)
    has_outside_supplier[0] = 1
    has_demand = torch.zeros(n_nodes)
    has_demand[1:] = 1
    transshipment = not policy.keeps_stock
    lead_time_matrix = torch.zeros(n_nodes, n_nodes)
    lead_time_matrix[0, 1:] = policy.store_lead_times[:, 0]
    supplier_lead_times = torch.zeros(n_nodes)
    supplier_lead_times[0] = policy.warehouse_lead_time
    pad = lambda x: F.pad(x, (0, policy.width - x.shape[-1]))  # noqa: E731
    features = torch.cat([torch.cat([pad(state.warehouse / policy.total), policy.warehouse_states.expand(b, 1, -1)], 2),
                          torch.cat([pad(state.stores / policy.scale), policy.store_states.expand(b, -1, -1)], 2)], 1)
    nodes = policy.initial_node(features)
    # create_edge_features: internal, supplier, demand, self-loops
    edge_indices = adjacency.nonzero(as_tuple=False)
    src, tgt = edge_indices[:, 0], edge_indices[:, 1]
    edge_list = [torch.cat([nodes[:, src], nodes[:, tgt], lead_time_matrix[src, tgt][None, :, None].expand(b, -1, 1)], -1)]
    supplier_nodes = has_outside_supplier.nonzero(as_tuple=False).squeeze(-1)
    edge_list.append(torch.cat([torch.zeros(b, len(supplier_nodes), nodes.size(-1)), nodes[:, supplier_nodes],
                                supplier_lead_times[supplier_nodes][None, :, None].expand(b, -1, 1)], -1))
    demand_nodes = has_demand.nonzero(as_tuple=False).squeeze(-1)
    edge_list.append(torch.cat([nodes[:, demand_nodes], torch.zeros(b, len(demand_nodes), nodes.size(-1)),
                                torch.zeros(b, len(demand_nodes), 1)], -1))
    supplying_nodes = (adjacency.sum(dim=1) > 0).nonzero(as_tuple=False).squeeze(-1)
    if not transshipment:
        edge_list.append(torch.cat([nodes[:, supplying_nodes], nodes[:, supplying_nodes],
                                    torch.zeros(b, len(supplying_nodes), 1)], -1))
    edges = policy.initial_edge(torch.cat(edge_list, dim=1))
    for _ in range(1):  # num_message_passing = 1 for warehouse-store networks
        # aggregate_messages
        incoming = torch.zeros(b, n_nodes, edges.size(-1))
        outgoing = torch.zeros(b, n_nodes, edges.size(-1))
        k = 0
        for i, (s, t) in enumerate(edge_indices):
            incoming[:, t] += edges[:, k + i]
            outgoing[:, s] += edges[:, k + i]
        k += len(edge_indices)
        for i, v in enumerate(supplier_nodes):
            incoming[:, v] += edges[:, k + i]
        k += len(supplier_nodes)
        for i, v in enumerate(demand_nodes):
            outgoing[:, v] += edges[:, k + i]
        k += len(demand_nodes)
        if not transshipment:
            for i, v in enumerate(supplying_nodes):
                incoming[:, v] += edges[:, k + i]
                outgoing[:, v] += edges[:, k + i]
        in_degree = adjacency.sum(dim=0) + has_outside_supplier
        out_degree = adjacency.sum(dim=1) + has_demand
        if not transshipment:
            for v in supplying_nodes:
                in_degree[v] += 1
                out_degree[v] += 1
        incoming = incoming / torch.sqrt(in_degree.clamp(min=1))[None, :, None]
        outgoing = outgoing / torch.sqrt(out_degree.clamp(min=1))[None, :, None]
        # message_passing_step
        nodes = nodes + policy.node_update(torch.cat([nodes, incoming, outgoing], dim=-1))
        sources = [nodes[:, src], torch.zeros(b, len(supplier_nodes), nodes.size(-1)), nodes[:, demand_nodes]]
        targets = [nodes[:, tgt], nodes[:, supplier_nodes], torch.zeros(b, len(demand_nodes), nodes.size(-1))]
        if not transshipment:
            sources.append(nodes[:, supplying_nodes])
            targets.append(nodes[:, supplying_nodes])
        edges = edges + policy.edge_update(torch.cat([edges, torch.cat(sources, 1), torch.cat(targets, 1)], dim=-1))
    # _generate_outputs_from_edges (orl's output scaling) and the proportional allocation
    outputs = F.softplus(policy.output(edges)).squeeze(-1) * policy.scale
    # the warehouse's outgoing edges: the n internal ones, then its self-loop (after 1 supplier and n demand edges)
    out_edges = list(range(n)) + ([n + 1 + n] if not transshipment else [])
    desired = outputs[:, out_edges]
    factor = state.warehouse[:, 0, 0] / (desired.sum(dim=1) + 1e-10)
    if not transshipment:
        factor = factor.clamp(max=1.0)
    allocated = desired * factor[:, None]
    return torch.cat([allocated[:, :n], outputs[:, n:n + 1]], dim=1)  # store orders, then the warehouse's


@pytest.mark.parametrize("setting_name, n_stores", [("one_warehouse_lost_demand", 4), ("transshipment_backlogged", 3)])
def test_gnn_is_the_official_gnn(setting_name, n_stores):
    """orl's GNN computes the official GNN's orders: one message-passing round on warehouse-store graphs,
    sums of incoming and of outgoing edge embeddings each scaled by 1 / sqrt(degree), a warehouse
    self-loop (none for a transshipment centre), orders read off edges and allocated by the warehouse."""
    import torch
    from orl_envs.inventory import make_setting

    from orl.algos.structured.hdpo import GNNPolicy
    from orl.train.hdpo import Scenarios

    torch.manual_seed(0)
    setting = make_setting(setting_name, n_stores=n_stores)
    policy = GNNPolicy(setting)
    assert policy.rounds == 1
    state = Scenarios(setting, 64, 1, seed=3).state
    # some warehouses short of stock, so that the allocation binds
    state.warehouse[:8, 0, 0] = torch.rand(8) * 3.0
    with torch.no_grad():
        ours = policy(state)
        official = _official_gnn_orders(policy, state)
    torch.testing.assert_close(ours, official, rtol=1e-5, atol=1e-5)
    shipped, on_hand = ours[:, :n_stores].sum(dim=1), state.warehouse[:, 0, 0]
    if policy.keeps_stock:  # never more than the warehouse holds; what it keeps is the self-loop's share
        assert (shipped <= on_hand + 1e-4).all()
    else:  # a transshipment centre ships all it holds
        torch.testing.assert_close(shipped, on_hand, rtol=1e-4, atol=1e-4)


def test_docs_and_docstrings_cite_no_private_notes():
    """Users have the papers and the official repositories, not the project's internal research notes
    (``shared/references/*.md``): nothing a user reads may point to them."""
    found = []
    for top in ("orl", "envs", "experiments", "docs", "README.md", "tests"):
        paths = [ROOT / top] if (ROOT / top).is_file() else (ROOT / top).rglob("*")
        for path in paths:
            if path.suffix in (".py", ".md", ".yaml", ".yml", ".toml") and path.name != "test_faithfulness.py":
                text = path.read_text(errors="replace")
                found += [f"{path.relative_to(ROOT)}: {m.group(0)}"
                          for m in re.finditer(r"shared/references|references/\w+\.md|\b(?:offline|algorithms|"
                                               r"environments|stack)\.md\b", text)]
    assert not found, found
