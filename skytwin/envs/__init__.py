"""PettingZoo and Gymnasium environments over the Site interface."""
