"""Reviews of a policy against best practice and against another policy: lint (rules with
their sources), grade (METR key components and Seoul commitments), compare (frameworks side
by side) and diff (which way each change moves). They read policies and, where a rule is
about what the gate would do, run the gate itself (one algebra), so they sit above the core:
policy -> scoring -> gates -> review.
"""
