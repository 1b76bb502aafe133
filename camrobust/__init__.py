"""camrobust: robustness of Class Activation Maps to input noise."""
