"""WebShop over HTTP: a local fake server with WebShop-shaped pages, the adapter, the metrics."""

from __future__ import annotations

import ast
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from langchain_lumos.domains import get_domain
from langchain_lumos.evaluation.webshop import WebShopEpisode, evaluate_webshop, webshop_metrics
from langchain_lumos.testing import ScriptedLLM
from langchain_lumos.tools.webshop import webshop_tools
from langchain_lumos.tools.webshop_server import WebShopServerEnvironment, parse_webshop_page

PRODUCTS = {
    "B0CRIMSON": (
        "Crimson gown for women, floor length",
        "$39.99",
        {"size": ["small", "large"]},
        ["100% silk", "Hand wash"],
    ),
    "B0AZURE": (
        "Azure gown, evening dress",
        "$45.00",
        {"size": ["small", "medium"]},
        ["Polyester", "Machine wash"],
    ),
    "B0SOCKS": ("Wool socks, 3 pairs", "$9.99", {}, ["Wool"]),
}
GOALS = [
    ("i need a crimson gown in size small, price lower than 50.00 dollars", "B0CRIMSON", {"size": "small"}),
    ("i want an azure gown in size medium", "B0AZURE", {"size": "medium"}),
]
HEAD = "<html><head><title>WebShop</title></head><body>"
TAIL = "</body></html>"


def _instruction(goal: int) -> str:
    return f'<div id="instruction-text" class="text-center"><h4>Instruction:<br>{GOALS[goal][0]}</h4></div>'


def _q(value: Any) -> str:
    return urllib.parse.quote(str(value), safe="")


def _page(path: str, form: dict[str, str]) -> tuple[int, str]:
    parts = [urllib.parse.unquote(p) for p in path.strip("/").split("/")]
    session = parts[1] if len(parts) > 1 else parts[0]
    goal = int(session.split("_")[-1])
    back = f'<form method="post" action="/{session}"><button type="submit" class="btn btn-success">Back to Search</button></form>'
    if len(parts) == 1:
        if "search_query" in form:
            typed = form["search_query"].lower().split(" ")  # as WebShop's form handler
            return 302, f"/search_results/{session}/{_q(typed)}/1"
        return 200, (
            HEAD
            + _instruction(goal)
            + f'<form role="form" id="form-buscar" method="post" action="/{session}">'
            '<input id="search_input" class="form-control" type="text" name="search_query" placeholder="Search..." required/>'
            '<button class="btn btn-success" type="submit">Search</button></form>' + TAIL
        )
    kind = parts[0]
    if kind == "search_results":
        keywords, page = parts[2], int(parts[3])
        words: list[str] = ast.literal_eval(keywords)
        ranked = sorted(PRODUCTS, key=lambda a: -sum(w in PRODUCTS[a][0].lower() for w in words))
        items = "".join(
            f'<div class="list-group-item"><h4 class="mt-0 font-weight-bold mb-2 product-asin">'
            f'<a class="product-link" href="/item_page/{session}/{a}/{_q(keywords)}/{page}/{_q({})}">{a}</a></h5>'
            f'<h4 class="mt-0 font-weight-bold mb-2 product-title">{PRODUCTS[a][0]}</h5>'
            f'<h5 class="font-weight-bold my-2 product-price">{PRODUCTS[a][1]}</h6></div>'
            for a in ranked
        )
        nav = f'<form method="post" action="/search_results/{session}/{_q(keywords)}/{page + 1}"><button type="submit" class="btn btn-primary">Next &gt;</button></form>'
        return 200, HEAD + _instruction(
            goal
        ) + back + f"<h5>Page {page} (Total results: 3)</h5>" + nav + items + TAIL
    if kind in ("item_page", "item_sub_page"):
        asin, item_keywords, item_page = parts[2], parts[3], parts[4]
        options = ast.literal_eval(parts[-1])
        title, price, option_groups, bullets = PRODUCTS[asin]
        item_url = f"/item_page/{session}/{asin}/{_q(item_keywords)}/{item_page}"
        if kind == "item_sub_page":
            prev = f'<form method="post" action="{item_url}/{_q(options)}"><button type="submit" class="btn btn-primary">&lt; Prev</button></form>'
            lis = "".join(f"<li><p>{b}</p></li>" for b in bullets)
            return 200, HEAD + _instruction(
                goal
            ) + back + prev + f'<div class="col-sm-6" name="bulletpoints"><ul>{lis}</ul></div>' + TAIL
        prev = f'<form method="post" action="/search_results/{session}/{_q(item_keywords)}/{item_page}"><button type="submit" class="btn btn-primary">&lt; Prev</button></form>'
        radios = ""
        for name, values in option_groups.items():
            radios += f"<h4>{name}</h4>"
            for i, value in enumerate(values):
                url = f"{item_url}/{_q({**options, name: value})}"
                radios += (
                    f'<input type="radio" id="radio_{name}{i}" name="{name}" value="{value}" data-url="{url}">'
                    f'<label for="radio_{name}{i}">{value}</label>'
                )
        subs = "".join(
            f'<form method="post" action="/item_sub_page/{session}/{asin}/{_q(item_keywords)}/{item_page}/{sub}/{_q(options)}">'
            f'<button class="btn btn-primary" type="submit">{sub}</button></form>'
            for sub in ("Description", "Features", "Reviews")
        )
        buy = f'<form method="post" action="/done/{session}/{asin}/{_q(options)}"><button type="submit" class="btn btn-lg purchase">Buy Now</button></form>'
        body = f"<h2>{title}</h2><h4>Price: {price}</h4><h4>Rating: N.A.</h4>"
        return 200, HEAD + _instruction(goal) + back + prev + radios + body + subs + buy + TAIL
    if kind == "done":
        asin, options = parts[2], ast.literal_eval(parts[3])
        _, want_asin, want_options = GOALS[goal]
        reward = (0.5 if asin == want_asin else 0.0) + (
            0.5 if asin == want_asin and options == want_options else 0.0
        )
        return 200, (
            HEAD + f'<h4 id="asin">asin<pre>{asin}</pre></h4>'
            f'<h3 id="reward">Your score (min 0.0, max 1.0)<pre>{reward}</pre></h3>' + TAIL
        )
    return 404, "not found"


class _Handler(BaseHTTPRequestHandler):
    def _serve(self, form: dict[str, str]) -> None:
        status, body = _page(self.path.split("?")[0], form)
        self.send_response(status)
        if status == 302:
            self.send_header("Location", body)
            body = ""
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.end_headers()
        self.wfile.write(body.encode())

    def do_GET(self) -> None:
        self._serve({})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        data = urllib.parse.parse_qs(self.rfile.read(length).decode())
        self._serve({k: v[0] for k, v in data.items()})

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


@pytest.mark.enable_socket
def test_adapter_reads_webshop_pages_like_the_text_environment(server: str) -> None:
    env = WebShopServerEnvironment(server)
    assert env.reset(0) == GOALS[0][0]
    assert env.clickables() == ["search"]
    results = env.search("crimson gown")
    assert results[0] == ("b0crimson", "Crimson gown for women, floor length")
    assert env.clickables() == ["back to search", "next >", "b0crimson", "b0azure", "b0socks"]
    step = env.click("B0CRIMSON")
    assert step.clickables == [
        "back to search",
        "< prev",
        "description",
        "features",
        "reviews",
        "buy now",
        "small",
        "large",
    ]
    assert env.features() == ["100% silk", "Hand wash"]
    assert env.clickables()[-2:] == ["small", "large"]  # still on the product page
    env.click("small")
    with pytest.raises(ValueError, match="not clickable"):
        env.click("medium")
    bought = env.click("buy now")
    assert (bought.done, bought.reward, env.reward) == (True, 1.0, 1.0)
    assert env.actions == ["search[crimson gown]", "click[b0crimson]", "click[small]", "click[buy now]"]
    with pytest.raises(ValueError, match="over"):
        env.click("back to search")


@pytest.mark.enable_socket
def test_lumos_tools_run_on_the_server(server: str) -> None:
    env = WebShopServerEnvironment(server)
    env.reset(1)
    search, click, feature_retrieve, _pick = webshop_tools(env)
    assert search.invoke({"query": "azure gown"}).startswith("b0azure - Azure gown")
    page = click.invoke({"item": "b0azure"})
    assert feature_retrieve.invoke({"feature_list": page, "query": "medium size"}).startswith("medium")
    click.invoke({"item": "small"})
    assert click.invoke({"item": "buy now"}) == 0.5  # the right item, the wrong size


@pytest.mark.enable_socket
def test_evaluate_webshop_reports_average_reward_and_success_rate(server: str) -> None:
    assert len(get_domain("webshop").plan_exemplars) == 2  # the original's 2-shot prompts
    planner = ScriptedLLM(responses=["Subgoal 1: Search the item; Subgoal 2: Buy the item."], role="planner")
    grounder = ScriptedLLM(
        responses={
            "crimson gown": "Search(crimson gown); R2 = Click(b0crimson); R3 = Click(small); R4 = Click(buy now)",
            "azure gown": "Search(azure gown); R2 = Click(b0azure); R3 = Click(small); R4 = Click(buy now)",
        },
        role="grounder",
    )
    report = evaluate_webshop(
        WebShopServerEnvironment(server), planner, grounder, goals=[0, 1], mode="onetime"
    )
    assert [e.reward for e in report.episodes] == [1.0, 0.5]
    assert (report.average_reward, report.score, report.success_rate) == (0.75, 75.0, 0.5)
    assert report.as_dict()["episodes"] == 2
    # The grounder saw the two WebShop exemplars before the task and the forced prefix.
    assert grounder.prompts[0].count("<|user|>") >= 3 and grounder.prompts[0].endswith("R1 = ")


def test_metrics_count_unfinished_episodes_as_zero() -> None:
    report = webshop_metrics([WebShopEpisode(0, "a", 1.0, True), WebShopEpisode(1, "b", 0.0, False)])
    assert (report.average_reward, report.score, report.success_rate) == (0.5, 50.0, 0.5)
    assert webshop_metrics([]).score == 0.0


def test_page_parser_reads_the_done_page() -> None:
    page = parse_webshop_page('<h3 id="reward">Your score (min 0.0, max 1.0)<pre>0.25</pre></h3>')
    assert page.reward == 0.25 and page.clickables == []


@pytest.mark.enable_socket
def test_iterative_episode_buys_on_the_server(server: str) -> None:
    planner = ScriptedLLM(
        responses={
            "": "Subgoal 1: Search the crimson gown.",
            "Search the crimson gown": "No, I will keep planning. Subgoal 2: Buy the crimson gown in small.",
            "Buy the crimson gown": "Yes, I will stop planning.",
        },
        role="planner",
    )
    grounder = ScriptedLLM(
        responses={
            "Search the crimson gown": "Search(crimson gown)",
            "Buy the crimson gown": "R2 = Click(b0crimson); R3 = Click(small); R4 = Click(buy now)",
        },
        role="grounder",
    )
    env = WebShopServerEnvironment(server)
    report = evaluate_webshop(env, planner, grounder, goals=[0])
    assert report.episodes[0].bought and report.success_rate == 1.0
    assert env.actions == ["search[crimson gown]", "click[b0crimson]", "click[small]", "click[buy now]"]


@pytest.mark.enable_socket
def test_cli_runs_episodes_on_the_server(
    server: str, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    import argparse
    import json

    from langchain_lumos.evaluation.webshop import add_webshop_parser

    script = tmp_path / "script.json"
    script.write_text(
        json.dumps(
            {
                "planner": {
                    "": "Subgoal 1: Search the crimson gown.",
                    "Search the crimson gown": "Yes, I will stop planning.",
                },
                "grounder": {
                    "Search the crimson gown": "Search(crimson gown); R2 = Click(b0crimson); R3 = Click(buy now)"
                },
            }
        )
    )
    parser = argparse.ArgumentParser(prog="lumos")
    add_webshop_parser(parser.add_subparsers(dest="command"))
    out = tmp_path / "webshop.json"
    argv = [
        "eval-webshop",
        "--server",
        server,
        "--model",
        f"scripted:{script}",
        "--num",
        "1",
        "--output",
        str(out),
    ]
    args = parser.parse_args(argv)
    assert args.func(args) == 0
    assert json.loads(capsys.readouterr().out)["score"] == 50.0  # the right item without its size
    assert json.loads(out.read_text())["episodes"][0]["reward"] == 0.5


def test_evaluate_webshop_on_the_in_memory_shop() -> None:
    from langchain_lumos.testing.shop import InMemoryShop

    shop = InMemoryShop()
    _, ground_dialogue = get_domain("webshop").ground_exemplars
    actions = "; ".join(t["content"] for t in ground_dialogue if t["role"] == "assistant")
    planner = ScriptedLLM(responses=["Subgoal 1: Buy the item."])
    grounder = ScriptedLLM(responses=[actions.removeprefix("R1 = ")])
    report = evaluate_webshop(shop, planner, grounder, goals=[1], mode="onetime")
    assert report.episodes[0].bought and report.episodes[0].reward == 1.0
