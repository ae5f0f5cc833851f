"""Mean-opinion-score studies with the SRGAN paper's protocol (Ledig et al. 2017, section 3.3).

Every rater scores every image of every method, plus the HR originals and a nearest-neighbour
version, one image at a time in an order shuffled per rater, from 1 (bad) to 5 (excellent), after a
calibration on examples shown as nearest-neighbour (score 1) and HR (score 5). `study` creates the
study folder, `storage` keeps the ratings in SQLite, `stats` and `report` summarise them.
"""
