"""The `autopilot` command: the parser in main.py, one module per verb in commands/.

terminal.py asks the human at a gate, local.py runs the whole system on one machine,
demo.py is `make demo`, agentic.py is the LLM path of `generate`.
"""
