"""selfheal: a self-healing control loop for services.

monitoring → analysis → decision → execution, with ``core`` types underneath
and ``loop`` the one place where the stages meet.
"""

__version__ = "0.1.0"
