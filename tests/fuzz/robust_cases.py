"""Adversarial inputs for the robustness fuzz (tests/fuzz/test_fuzz_robust.py) and the soak
(benchmarks/fuzz_soak.py): each builder turns a ``random.Random`` into one case, so the
unit fuzz (hypothesis draws the seed) and the soak (thousands of seeds) share them."""

import json
import os

#: Numbers a user might type where a count, a size or a bandwidth is expected.
NUMBERS = ["0", "1", "2", "3", "4", "8", "-1", "1e308", "-1e308", "5e-324", "1e-300", "inf",
           "-inf", "nan", "9223372036854775807", "9223372036854775808",
           "99999999999999999999", "0.5", "2.5", "1e400", "1" + "0" * 400, "0x10", "", "x",
           "400Gbps", "1MiB", "-0"]
TOPOS = [("two-layer-fat-tree", ["--radix", "--leaves", "--spines", "--hosts-per-leaf",
                                 "--link-bandwidth", "--latency", "--oversubscription"]),
         ("three-layer-fat-tree", ["--k", "--link-bandwidth"]),
         ("dragonfly", ["--a", "--p", "--h", "--g", "--link-bandwidth"]),
         ("slim-fly", ["--q", "--p", "--link-bandwidth"]),
         ("multi-plane-fat-tree", ["--planes", "--radix", "--servers", "--link-bandwidth"]),
         ("isca-dragonfly", []), ("isca-ft3", []), ("isca-slimfly", [])]
TRAFFIC = ["all-to-all", "permutation", "shift:1", "shift:{n}", "incast:n0", "incast:{n}",
           "{csv}", "/dev/zero.csv", "{fifo}"]


def cli_argv(rng, files, presets=False):
    """A ``netemu solve`` / ``topo info`` / ``bench moe`` argument vector with odd numbers
    (the large isca presets, seconds to build each, only with ``presets=True``)."""
    kind = rng.random()
    if kind < 0.15:
        opt = rng.choice(["--tokens", "--experts", "--hidden", "--topk", "--shared"])
        return ["bench", "moe", "--algo", rng.choice(["deepep", "direct"]), "--cluster",
                "deepseek-v3-cluster", "--gpus", rng.choice(["16", "0", "x"]), opt,
                rng.choice(NUMBERS)]
    name, params = rng.choice(TOPOS if presets else [t for t in TOPOS if t[1]])
    if rng.random() < 0.15:
        name, params = rng.choice([files["graph"], files["bad_graph"], files["fifo_graph"]]), []
    argv = ["topo", "info", name] if kind < 0.3 else ["solve", name]
    for p in rng.sample(params, min(len(params), rng.randint(0, 3))):
        argv += [p, rng.choice(NUMBERS)]
    if argv[0] == "solve":
        if rng.random() < 0.6:
            t = rng.choice(TRAFFIC).format(n=rng.choice(NUMBERS), csv=files["csv"],
                                           fifo=files["fifo_csv"])
            argv += ["--traffic", t]
        if rng.random() < 0.3:
            argv += ["--size", rng.choice(NUMBERS + ["1MiB", "64KiB"])]
    if rng.random() < 0.3:
        argv.append("--json")
    return argv


def node_link(rng):
    """A small valid node-link graph as a dict (a star of hosts on two switches)."""
    nodes = [{"id": "s0", "role": "switch"}, {"id": "s1", "role": "switch"}]
    links = [{"source": "s0", "target": "s1", "bandwidth": 1e9, "latency": 0.0,
              "medium": "ib", "cables": 1}]
    for i in range(rng.randint(2, 5)):
        nodes.append({"id": f"n{i}", "role": "host"})
        links.append({"source": f"n{i}", "target": f"s{i % 2}", "bandwidth": 1e9,
                      "latency": 0.0, "medium": "ib", "cables": 1})
    return {"directed": False, "multigraph": False, "graph": {"name": "x", "params": {}},
            "nodes": nodes, "links": links}


ODD = [None, [], {}, [1], "x", -1, 0, 0.5, 1e308, 5e-324, 10**400, True, "nan", ["host"],
       {"a": 1}, "", 2**63]


def _records(data, key):
    """``data[key]`` when it is still a non-empty list of dicts (an earlier edit may have
    replaced it by an odd value)."""
    v = data.get(key)
    return isinstance(v, list) and bool(v) and all(isinstance(x, dict) for x in v)


def mutate_graph(rng, data):
    """One to three edits of a node-link dict: duplicates, wrong types, odd numbers, forged
    failure records, broken structure."""
    for _ in range(rng.randint(1, 3)):
        r = rng.random()
        if r < 0.15 and _records(data, "nodes"):
            data["nodes"].append(dict(rng.choice(data["nodes"]), role=rng.choice(
                ["spine", "host", "switch"])))
        elif r < 0.3 and _records(data, "links"):
            link = dict(rng.choice(data["links"]))
            if rng.random() < 0.5:
                link["source"], link["target"] = link.get("target"), link.get("source")
            data["links"].append(link)
        elif r < 0.5 and _records(data, "links"):
            rng.choice(data["links"])[rng.choice(["bandwidth", "latency", "medium", "cables",
                                                   "source"])] = rng.choice(ODD)
        elif r < 0.6 and _records(data, "nodes"):
            rng.choice(data["nodes"])[rng.choice(["role", "capacity", "id"])] = rng.choice(ODD)
        elif r < 0.75:
            data["graph"] = dict(data["graph"]) if isinstance(data["graph"], dict) else {}
            data["graph"][rng.choice(["params", "failures", "name"])] = rng.choice(
                ODD + [{"failed_links": ["s0--s1"]}, {"switches": ["s0"]},
                       {"failed_links": []}, {"planes": [0]}])
        elif r < 0.85 and _records(data, "links"):
            data["links"].pop(rng.randrange(len(data["links"])))   # may disconnect
        else:
            data[rng.choice(["graph", "nodes", "links", "directed", "multigraph"])] = \
                rng.choice(ODD)
    return data


def traffic_csv(rng):
    """Text of a traffic CSV with odd sizes, names and quoting."""
    sizes = ["1", "4096", "1MiB", "0.5", "0", "-1", "nan", "inf", "1e308", "1e6", "x", "",
             "9" * 400, "9007199254740993", "2.5KiB"]
    names = ["n0", "n1", "n2", "n3", "s0", "zz", "", '"n0"', "n0,n1"]
    lines = [rng.choice(["src,dst,bytes", "dst,src,bytes", "src,dst", "a,b,c", ""])]
    for _ in range(rng.randint(0, 6)):
        row = [rng.choice(names), rng.choice(names), rng.choice(sizes)]
        if rng.random() < 0.1:
            row.append("extra")
        lines.append(",".join(row))
    text = "\n".join(lines) + "\n"
    if rng.random() < 0.1:
        text = text.replace(",", '","', 1)            # bad quoting
    return text.encode() if rng.random() > 0.05 else b"\xff\xfe" + text.encode()


def make_files(directory):
    """A valid graph, a malformed one, a traffic CSV and named pipes, for argv cases."""
    from netemu.io import save
    from netemu.topologies.fat_tree import two_layer_fat_tree

    files = {"graph": os.path.join(directory, "g.json"),
             "bad_graph": os.path.join(directory, "bad.json"),
             "csv": os.path.join(directory, "t.csv"),
             "fifo_csv": os.path.join(directory, "pipe.csv"),
             "fifo_graph": os.path.join(directory, "pipe.json")}
    save(two_layer_fat_tree(4), files["graph"])
    with open(files["bad_graph"], "w") as fh:
        json.dump({"graph": [1], "nodes": [], "links": []}, fh)
    with open(files["csv"], "w") as fh:
        fh.write("src,dst,bytes\nn0,n1,1MiB\nn2,n3,5\n")
    for key in ("fifo_csv", "fifo_graph"):
        if not os.path.exists(files[key]):
            os.mkfifo(files[key])
    return files
