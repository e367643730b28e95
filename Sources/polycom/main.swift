print("polycom")
