"""The screens: the main one and the modal ones (help, diff, detail, confirmations)."""
