"""Testing tools that ship with the suite: ``checks`` (what every registered method must pass, for method
authors), ``regress_plugin`` (the pytest plugin ``dnas_regress``) and ``regressions`` (injected
regressions the gate must catch). Nothing is imported here, so the plugin loads without torch."""
