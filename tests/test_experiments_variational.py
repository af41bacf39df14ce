"""Drivers of the variational JKO paper (wgf_core.experiments.variational) at unit level, small sizes."""

import math

import numpy as np
import pytest
import torch

from wgf_core.errors import ParameterError
from wgf_core.experiments import variational as ev
from wgf_core.random import stream
from wgf_core.schemes.variational import TrainConfig

OU_SZ = dict(outer=3, inner=1, batch=64, width=8, depth=1, n_eval=300, n_eval_final=400, pool=512, reference="pushed",
             time_outer=2)


def test_run_ou_small_records_curves_floors_and_times():
    r = ev.run_ou(2, 0, OU_SZ, step=0.1, t_eval=(0.2, 0.3), keep_frames=True)
    assert r["diverged"] is None and r["diverged_msg"] is None
    assert r["curve"].shape == (3,) and np.isfinite(r["curve"]).all()
    assert set(r["at"]) == {0.2, 0.3} and all(math.isfinite(v) for v in r["at"][0.3].values())
    assert len(r["frames"]) == 3 and r["frames"][0].shape == (400, 2)
    assert r["step_time"] >= 0 and r["d"] == 2 and r["member"] == 0
    # the same member of the same base seed is the same flow; another base seed is another draw
    again = ev.run_ou(2, 0, OU_SZ, step=0.1, t_eval=(0.2, 0.3))
    assert np.array_equal(r["curve"], again["curve"])
    A, b = ev.ou_problem(2, 0)
    assert A.shape == (2, 2) and b.shape == (2,)
    assert not torch.equal(A, ev.ou_problem(2, 0, seed=1000)[0]) and not torch.equal(A, ev.ou_problem(2, 1)[0])


def test_run_ou_records_a_diverged_seed_instead_of_raising(monkeypatch):
    # learning rates of 50 make the affine map explode at the first step: the runner stops the flow and the
    # driver records the seed as diverged, with NaN errors (the claims over seeds see NaN)
    monkeypatch.setattr(ev, "TrainConfig", lambda o, i, b, lm, ld: TrainConfig(o, i, b, 50.0, 50.0))
    monkeypatch.setattr(ev, "ou_problem", lambda d, s, seed=0: (torch.diag(torch.tensor([1.0, 1000.0], dtype=torch.float64)),
                                                        torch.zeros(2, dtype=torch.float64)))
    r = ev.run_ou(2, 0, dict(OU_SZ, outer=60, reference="start"), step=0.05, t_eval=(0.1, 0.2))
    assert r["diverged"] == 1 and r["diverged_msg"].startswith("step 1:")
    assert r["curve"].shape == (4,) and np.isnan(r["curve"]).all()
    assert all(math.isnan(v) for t in (0.1, 0.2) for v in r["at"][t].values())


def test_kl_targets_and_run():
    moons = ev.make_target("moons")
    assert moons.means.shape == (16, 2)
    g8 = ev.make_target("gmm8", 8)
    assert g8.means.shape == (9, 8) and torch.equal(g8.means, ev.make_target("gmm8", 8).means)
    with pytest.raises(ParameterError, match="'name'"):
        ev.make_target("swiss")
    sz = dict(d=2, K=2, outer=3, inner=1, batch=32, T=(8, 1), h=(8, 1))
    scheme, target, traj = ev.run_kl("moons", sz, 0)
    assert traj.iterations == 2 and len(scheme.maps) == 2 and traj.final.x.shape == (1, 320, 2)
    fr = ev.component_fractions(target, scheme.sample(200))
    assert fr.shape == (16,) and abs(float(fr.sum()) - 1) < 1e-12


def test_porous_scheme_runs():
    sz = dict(inner=1, batch=32, lr=5e-3, width=6, depth=1, pool=256, lr_final_factor=0.1)
    energy, scheme = ev.porous_scheme(1, sz, 3, stream(0, "test/porous", 0))
    traj = ev.run_variational(energy, scheme, 0.001, 2, show_progress=False)
    assert traj.iterations == 2 and torch.isfinite(scheme.sample(100)).all()


def test_run_aggregation_and_push_cache():
    sz = dict(outer=2, inner=1, batch=32, pool=200, lr=5e-3, width=6, depth=1)
    out = ev.run_aggregation("fb", 3, 0, sz, keep=True, energy_points=100)
    assert out["modes"].shape == (3,) and out["spread"].shape == (3,) and np.isfinite(out["energy"]).all()
    assert set(out["timeline"]) == {"first", "last", "one_from"}
    cache = ev.PushCache(out["flow"], out["x0"][:50])
    x2 = cache.get(2)
    assert np.allclose(x2, out["flow"].push(out["x0"][:50], 2).numpy(), atol=1e-6)
    assert np.allclose(cache.get(3), out["flow"].push(out["x0"][:50], 3).numpy(), atol=1e-6)
    with pytest.raises(ParameterError, match="'k'"):
        cache.get(4)
    with pytest.raises(ParameterError, match="'mode'"):
        ev.aggregation_scheme("jko", sz, stream(0, "test/agg", 0))


# --------------------------------------------------------------------------------------------- notebook drivers
def test_setup_checks_parameters_and_applies_overrides(capsys):
    st = ev.setup("01_ornstein_uhlenbeck", "ci", "cpu", 3, dims="2,6", n_seeds=2, outer=None, batch=64)
    assert st.sizes["dims"] == [2, 6] and st.sizes["batch"] == 64 and st.seeds == [0, 1] and st.seed == 3
    assert st.first == 2 and ev.setup("01_ornstein_uhlenbeck", "ci", "cpu", 3).first is None
    assert st.key == "variational/01_ornstein_uhlenbeck" and st.paper["outer"] == 500
    assert ev.PROFILES["01_ornstein_uhlenbeck"]["ci"]["dims"] == [2, 6, 12, 16, 32]   # the table is not changed
    kl = ev.setup("04_kl_sampling", "ci", "cpu", 0, outer=7)
    assert all(v["outer"] == 7 for v in kl.sizes["targets"].values())
    assert ev.PROFILES["04_kl_sampling"]["ci"]["targets"]["moons"]["outer"] == 30
    for kw, name in ((dict(seed=-1), "seed"), (dict(seed="abc"), "seed"), (dict(profile="fast"), "profile"),
                     (dict(device="cuda:99"), "device"), (dict(batch=1), "batch"), (dict(dims=[1]), "dims"),
                     (dict(n_steps=3), "n_steps"), (dict(profile="default", n_seeds=2), "n_seeds")):
        args = dict(profile="ci", device="cpu", seed=0) | kw
        with pytest.raises(ParameterError, match=f"'{name}'"):
            ev.setup("01_ornstein_uhlenbeck", args.pop("profile"), args.pop("device"), args.pop("seed"), **args)
    capsys.readouterr()


def _ou_setup(**sz):
    sizes = dict(dict(OU_SZ, dims=[2, 6], n_seeds=1), **sz)
    return ev.Setup("01_ornstein_uhlenbeck", "ci", torch.device("cpu"), 0, sizes, [0],
                    ev.PAPER_SETTINGS["01_ornstein_uhlenbeck"])


def test_ou_ensemble_table_figures_verdicts_and_glue(capsys):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    st = _ou_setup()
    ens = ev.run_ou_ensemble(st)
    assert [r["d"] for r in ens["rows"]] == [2, 6] and ens["K"] == 18 and len(ens["results"][6]) == 1
    assert ens["members"] == [0] and len(ens["timing"]["repeats"]) == 5   # ci: one member, 5 timing repeats
    assert all(len(r["seconds_per_step"]) == 2 and min(r["seconds_per_step"]) > 0 for r in ens["timing"]["repeats"])
    assert all(a > 0 for d in (2, 6) for a in ens["stiffness"][d])
    assert ens["stiffness"][2][0] == pytest.approx(0.05 * float(torch.linalg.eigvalsh(ev.ou_problem(2, 0)[0]).max()))
    table = ev.ou_table(ens)
    assert table.count("\n| ") == 3 and "| 2 | -3.34 |" in table and "| 6 | -2.99 |" in table
    frames, times = ev.ou_frames(ens)
    assert frames.shape == (18, 400, 2) and times[0] == pytest.approx(0.05)
    fig = ev.ou_figure(ens)
    assert fig.axes[0].get_xlabel() == "dimension d" and fig.axes[2].get_ylabel().startswith("training time")
    figs = ev.ou_curve_figures(ens)
    assert list(figs) == ["d = 2", "d = 6"] and figs["d = 2"].axes[0].get_ylabel() == "SymKL to exact P_t"
    entries = ev.ou_verdicts(st, ens)
    assert [e["id"] for e in entries] == ["ou-symkl-d2", "ou-floor-d2", "ou-symkl-d6", "ou-floor-d6", "ou-time-vs-d"]
    assert entries[-1]["seeds"] == [0, 1, 2, 3, 4] and entries[0]["seeds"] == [0] and entries[0]["base_seed"] == 0
    assert all(e["status"] in ("reproduced", "differs", "inconclusive") for e in entries)
    g = ev.ou_glue(st, ens, entries)
    assert g["ou_n_runs"] == 2 and g["ou_n_diverged"] == 0 and g["ou_reference"] == '`reference="pushed"`'
    assert g["ou_stiff_max"] == max(ens["stiffness"][2] + ens["stiffness"][6])
    assert g["ou_diverged"] == "none" and g["ou_paper_inconclusive"] == "2, 6"   # one member: the whole line
    assert g["ou_time_repeats"] == 5 and g["ou_time_slowest_d"] in (2, 6) and g["ou_time_ratio"] >= 1
    plt.close("all")
    capsys.readouterr()


def test_ou_dims_are_refused_before_compute_naming_the_parameter_and_the_maximum(monkeypatch, capsys):
    def no_compute(*a, **k):
        raise AssertionError("computed before the parameters were checked")

    monkeypatch.setattr(ev, "run_ou", no_compute)
    for profile in ("ci", "default", "paper"):
        sizes = ev.PROFILES["01_ornstein_uhlenbeck"][profile]
        top = ev.ou_max_dim(sizes)
        per_dim = ev.OU_BYTES_PER_DIM_SAMPLE * (sizes["pool"] + sizes["n_eval_final"])
        # the maximum: within the time bound, and within the memory budget where the next dimension is not
        assert top <= ev.OU_MAX_DIM_TIME and top * per_dim <= ev.OU_MEMORY_BUDGET
        assert top == ev.OU_MAX_DIM_TIME or (top + 1) * per_dim > ev.OU_MEMORY_BUDGET
        assert max(sizes["dims"]) <= top   # every profile's own dimensions pass
        assert ev.setup("01_ornstein_uhlenbeck", profile, "cpu", 0, dims=[2, top]).sizes["dims"] == [2, top]
        with pytest.raises(ParameterError, match=rf"'dims' = \[{top + 1}\].*at most {top} at profile '{profile}'"):
            ev.setup("01_ornstein_uhlenbeck", profile, "cpu", 0, dims=[top + 1])
    for bad, why in (([], "non-empty"), ("[]", "non-empty"), ([2, 6, 2], "repeated: 2"), ("10,10", "repeated: 10")):
        with pytest.raises(ParameterError, match=f"'dims'.*{why}"):
            ev.setup("01_ornstein_uhlenbeck", "ci", "cpu", 0, dims=bad)
    assert ev.setup("01_ornstein_uhlenbeck", "ci", "cpu", 0, dims="[10]").sizes["dims"] == [10]   # not the paper's
    capsys.readouterr()


def _ou_record(monkeypatch, st, ens):
    seen = {}
    monkeypatch.setattr(ev, "record_metrics", lambda key, profile, seed, entries, **kw: seen.update(kw, claims=entries))
    ev.ou_verdicts(st, ens)
    return seen


def test_ou_dimension_without_a_paper_value_is_shown_and_decides_no_claim(monkeypatch, capsys):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # d = 10 alone: measured and shown with "no paper value", no claim (the timing claim needs two paper d's)
    st = _ou_setup(dims=[10])
    ens = ev.run_ou_ensemble(st)
    assert ens["entries"] == [] and len(ens["timing"]["repeats"]) == 5
    (row,) = ens["rows"]
    assert row["d"] == 10 and row["paper"] is None and row["paper_note"] == ev.NO_PAPER_VALUE
    assert all(math.isfinite(v) for v in row["ours"] + row["floor"] + row["to_jko"])
    assert "| 10 | no paper value |" in ev.ou_table(ens) and "no claim decided" in ev.ou_table(ens)
    fig = ev.ou_figure(ens)
    assert ev.NO_PAPER_VALUE in [t.get_text() for t in fig.axes[1].texts]
    rec = _ou_record(monkeypatch, st, ens)
    assert rec["claims"] == [] and rec["metrics"]["no_paper_value"] == [10]
    assert rec["metrics"]["rows"][0]["paper_note"] == ev.NO_PAPER_VALUE
    g = ev.ou_glue(st, ens, [])
    assert g["ou_time_verdict"].startswith("not decided") and g["ou_paper_reproduced"] == "none"
    # the paper's d's beside it are decided as without it (same streams per d), d = 10 in no claim
    base = ev.run_ou_ensemble(_ou_setup())
    mixed = ev.run_ou_ensemble(_ou_setup(dims=[2, 10, 6]))
    ids = [e["id"] for e in mixed["entries"]]
    assert ids == [e["id"] for e in base["entries"]] and not any("d10" in i for i in ids)
    for a, b in zip(base["entries"][:-1], mixed["entries"][:-1]):
        assert a["per_seed"] == b["per_seed"] and a["status"] == b["status"]
    assert mixed["entries"][-1]["per_seed"][0]["text"].count("d=") == 2   # the timing claim: d = 2, 6 only
    assert [r["paper_note"] for r in mixed["rows"]] == ["Fig. 3(b)", ev.NO_PAPER_VALUE, "Fig. 3(b)"]
    assert _ou_record(monkeypatch, _ou_setup(), base)["metrics"]["no_paper_value"] == []
    plt.close("all")
    capsys.readouterr()


def test_pme_drivers_small(capsys):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = dict(ev.PROFILES["02_porous_medium"]["ci"], n_steps=2, outer=3, batch=32, pool=256, steps_hd=1, outer_hd=2)
    st = ev.Setup("02_porous_medium", "ci", torch.device("cpu"), 0, sizes, [0], ev.PAPER_SETTINGS["02_porous_medium"])
    assert ev.pme_mass_check().startswith("mass with the paper's C=(3/16)^(1/3): 2.000000 | with the unit-mass C: 1.000000")
    res = ev.run_pme(st)
    pm, hdr = res["1d"], res["hd"]
    assert pm["members"] == hdr["members"] == [0]   # ci: one look of one member
    assert pm["K"] == 2 and len(pm["tables"][0]) == 2 and set(pm["dens"][0]) == {1, 2}
    assert pm["dens"][0][2].shape == pm["xs"].shape == (801,) and pm["samples"].shape == (20000,)
    fig = ev.pme_figure(pm)
    assert fig.axes[0].get_ylabel() == "density" and fig.axes[1].get_ylabel() == "L1 distance"
    assert list(ev.pme_step_figures(pm)) == ["k = 1", "k = 2"]
    frames, times = ev.pme_frames(st, pm)
    assert frames.shape == (3, 300, 2) and times == pytest.approx([0.002, 0.003, 0.004])
    assert [r["k"] for r in hdr["hd"]] == [0, 1] and set(hdr["growth"][0]) == {3}
    assert ev.pme_hd_figure(st, hdr).axes[0].get_xlabel() == "JKO step k"
    # a later look appends members; member 1 is its own stream
    more = ev.run_pme_hd(st, [1], dict(hdr, hd=list(hdr["hd"]), growth=list(hdr["growth"]), members=list(hdr["members"])))
    assert more["members"] == [0, 1] and more["growth"][1] != more["growth"][0]
    entries = ev.pme_verdicts(st, res)
    assert [e["id"] for e in entries] == ["pme-1d-time-discretisation-dominates", "pme-hd-spreading"]
    assert entries[1]["configuration"] != entries[0]["configuration"]
    g = ev.pme_glue(st, res)
    assert g["pme_K"] == 2 and g["pme_growth"].startswith("n = 3: ") and g["pme_holds_at"].startswith("member 0: ")
    plt.close("all")
    capsys.readouterr()


def test_push_frames_from_the_previous_frame():
    sz = dict(outer=2, inner=1, batch=32, pool=200, lr=5e-3, width=6, depth=1)
    energy, scheme = ev.aggregation_scheme("non_fb", sz, stream(0, "test/agg", 1))
    ev.run_variational(energy, scheme, 0.5, 4, show_progress=False)
    x0 = scheme.sample_p0(50, stream(0, "test/agg-x0", 0))
    fr = ev.push_frames(scheme, x0, every=2)
    assert fr.shape == (3, 50, 2) and np.allclose(fr[2], scheme.push(x0, 4).numpy(), atol=1e-5)
    with pytest.raises(ParameterError, match="'every'"):
        ev.push_frames(scheme, x0, every=0)


def test_agg_drivers_small(capsys):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = dict(ev.PROFILES["03_aggregation_diffusion"]["ci"], n_steps_fb=3, n_steps_nonfb=2, outer=2, pool=200,
                 batch=32, fv_steps=3)
    st = ev.Setup("03_aggregation_diffusion", "ci", torch.device("cpu"), 0, sizes, [0],
                  ev.PAPER_SETTINGS["03_aggregation_diffusion"])
    fvr = ev.agg_reference(st)
    assert fvr["K_ref"] == 3 and fvr["modes"].shape == (3,) and abs(fvr["cell_mass"][-1].sum() - 1) < 1e-9
    agg = ev.run_agg(st)
    assert [len(agg["runs"][sc]) for sc in ("fb", "non_fb")] == [1, 1] and agg["runs"]["fb"][0]["modes"].shape == (3,)
    assert agg["members"] == [0] and [e["id"] for e in agg["entries"]] == ["agg-fb-four-then-one", "agg-fb-timeline",
                                                                           "agg-nonfb-four-pulses"]
    figs = ev.agg_hist_figures(st, fvr, agg)
    assert list(figs) == ["FB (Fig. 5)", "finite volumes", "non-FB (Fig. 8)"]
    assert len(figs["FB (Fig. 5)"].axes) == 2 and figs["non-FB (Fig. 8)"].axes[0].get_xlabel() == "x1"
    fig = ev.agg_curves_figure(st, fvr, agg)
    assert fig.axes[0].get_ylabel() == "number of modes"
    frames, times = ev.agg_frames(agg)
    assert frames.shape == (4, 400, 2) and times == [0.0, 0.5, 1.0, 1.5]
    entries = ev.agg_verdicts(st, fvr, agg)
    assert [e["id"] for e in entries] == ["agg-fb-four-then-one", "agg-fb-timeline", "agg-fb-vs-pde",
                                          "agg-nonfb-four-pulses"]
    g = ev.agg_glue(st, fvr, agg, entries)
    assert g["agg_h_fb"] == 3 and g["agg_h_nonfb"] == 2 and g["agg_fb_vs_pde_verdict"] == entries[2]["status"]
    assert g["agg_fb_timelines"].startswith("member 0: ") and g["agg_growth_rate"] > 0
    assert entries[2]["stochastic"] is False and entries[2]["seeds"] == [0]
    plt.close("all")
    capsys.readouterr()


def test_kl_drivers_small(capsys):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tiny = dict(K=2, outer=2, inner=1, batch=16, T=(8, 1), h=(8, 1))
    sizes = dict(n_seeds=1, n_test=100, targets={"moons": dict(tiny, d=2), "gmm8": dict(tiny, d=8)})
    st = ev.Setup("04_kl_sampling", "ci", torch.device("cpu"), 0, sizes, [0], ev.PAPER_SETTINGS["04_kl_sampling"])
    ens = ev.run_kl_ensemble(st)
    results = ens["results"]
    r = results["moons"][0]
    assert list(results) == ["moons", "gmm8"] and r["x"].shape == (100, 2) and ens["members"] == [0]
    assert "flow" in r and abs(r["fractions"].sum() - 1) < 1e-9 and len(r["dual_values"]) == 2
    # n_test = 100 is in no profile: the reference is computed at run time by the same fixed-seed code
    assert r["ref"] == ens["refs"]["moons"]["q95"] == ev.kl_null_reference("moons", 2, 100)["q95"]
    assert "computed at run time" in ens["entries"][0]["reason"]
    assert ev.kl_moons_figure(ens).axes[1].get_title() == "ours, member 0, k = 2"
    frames, times, y = ev.kl_frames(st, ens)
    assert frames.shape == (3, 500, 2) and times == pytest.approx([0, 0.3, 0.6]) and y.shape == (100, 2)
    assert list(ev.kl_pca_figures(ens)) == ["gmm8"]
    assert ev.kl_test_figure(st, ens).axes[0].get_ylabel() == "energy distance (n = 100)"
    entries = ev.kl_verdicts(st, ens)
    assert [e["id"] for e in entries] == ["kl-sampling-moons", "kl-sampling-gmm8"]
    g = ev.kl_glue(st, ens)
    assert g["kl_n_test"] == 100 and g["kl_summary"].count("\n") == 1 and g["kl_summary"].startswith("- **moons**")
    plt.close("all")
    capsys.readouterr()
