"""README's Python example runs and prints what the README says it prints."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_example_runs(capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "README has a Python example"
    for code in blocks:
        exec(compile(code, "README.md", "exec"), {})
    out = capsys.readouterr().out.splitlines()
    # The comment in README states the mixed view's nodes for the cute bunny.
    assert out[-1] == "2 ['bunny', 'cute', 'error']"


def test_readme_opens_with_the_two_commands():
    text = README.read_text()
    first_block = re.search(r"```sh\n(.*?)```", text, flags=re.S).group(1).splitlines()
    assert first_block[0].startswith("make run")
    assert first_block[1].startswith("make test")
    ci = (README.parent / ".ci" / "run").read_text()
    assert "make test" in ci


def test_readme_table_is_what_the_cli_prints():
    from basisgraph.cli.main import format_table
    from basisgraph.config import Config
    from basisgraph.core.seeds import table_across_seeds

    block = re.search(r"```\n(family .*?)```", README.read_text(), flags=re.S).group(1)
    printed = format_table(table_across_seeds(Config(), 5)).splitlines()
    own = next(i for i, line in enumerate(printed) if line.startswith("own share"))
    assert block.strip().splitlines() == "\n".join(printed[2:own]).strip().splitlines()


def test_readme_policy_tables_are_what_the_cli_prints():
    from basisgraph.config import Config
    from basisgraph.core.policies import format_policies, residual_policies

    blocks = re.findall(r"```\n(cell .*?)```", README.read_text(), flags=re.S)
    assert len(blocks) == 2
    for block, cfg in zip(blocks, [Config(), Config(overlay_sampling="topup")]):
        printed = format_policies(residual_policies(cfg)).splitlines()
        assert block.strip().splitlines() == printed[2:]
