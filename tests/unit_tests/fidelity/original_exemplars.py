"""The WebShop in-context exemplars of the original code (strings verbatim).

Copied from allenai/lumos `eval/webshop/examplars.py` (MIT License, Copyright (c) 2023 AI2)
so the fidelity tests rebuild the original prompts without the package's own data file.
"""

PLAN_EXAMPLARS = [
    {
        "instruction": "Find me slim fit, loose fit women's tops, tees & blouses with long sleeve, short sleeve with color: a01#black, and size: large, and price lower than 50.00 dollars",
        "subgoals": "Subgoal 1: Search two relevant items and the product names according to the instruction. || Results: b09s3bn15c - Mens Linen Shirt,Men's Striped Shirts Casual Short Sleeve Button Down Shirts Regular Fit Hawaiian Shirts Beach Tees Tops ** b094q7b3ss - Women Cold Shoulder Tops, Summer Butterfly Print Shirts Fashion Casual Short Sleeve Plus-Size Tunic Top Tee and Blouse; Subgoal 2: Select the most relevant features of item b09s3bn15c. || Results: short, casual, shoulder; Subgoal 3: Select the most relevant features of item b094q7b3ss. || Results: black, large, x-large; Subgoal 4: Pick up the most related one from the two relevant items according to the product names and their features. || Results: b094q7b3ss; Subgoal 5: Buy this item by selecting its relevant features. || Results: Done.",
    },
    {
        "instruction": "Find me ready hang wall art with solid wood for living room with color: turtles and african american couple, and size: 16x20 inch, and price lower than 70.00 dollars",
        "subgoals": "Subgoal 1: Search two relevant items and the product names according to the instruction. || Results: b099wh1rtm - African American Wall Art Get Naked Fashion Black Girl And Bathtub Canvas Prints Gray Pink Painting Picture Modern Artwork For Bathroom Living Room Home Wall Decor Framed Ready To Hang 16x24 Inch ** b092qqbw4y - Sencillez Canvas Wall Art Abstract Regalite Turquoise Marble Mixed Colors Blue Teal Gold Foil Digital Art Modern Art Bohemian Colorful Multicolor Ultra for Living Room Bedroom Office (20x30 inches); Subgoal 2: Select the most relevant features of item b099wh1rtm. || Results: turtles and african american couple, 16x20 inch; Subgoal 3: Select the most relevant features of item b092qqbw4y. || Results: art, 16x24 Inch; Subgoal 4: Pick up the most related one from the two relevant items according to the product names and their features. || Results: b099wh1rtm; Subgoal 5: Buy this item by selecting its relevant features. || Results: Done.",
    },
]


GROUND_EXAMPLARS = [
    {
        "instruction": "Find me slim fit, loose fit women's tops, tees & blouses with long sleeve, short sleeve with color: a01#black, and size: large, and price lower than 50.00 dollars",
        "actions": "Action 1-1: R1 = Search(Find me slim fit, loose fit women's tops, tees & blouses with long sleeve, short sleeve with color: a01#black, and size: large, and price lower than 50.00 dollars).; Action 2-1: R2 = Click(b09s3bn15c) || Action 2-2: R3 = FeatureRetrieve(R2, Query: Find me slim fit, loose fit women's tops, tees & blouses with long sleeve, short sleeve with color: a01#black, and size: large, and price lower than 50.00 dollars).; Action 3-1: R4 = Click(< prev) || Action 3-2: R5 = Click(b094q7b3ss) || Action 3-3: R6 = FeatureRetrieve(R5, Query: Find me slim fit, loose fit women's tops, tees & blouses with long sleeve, short sleeve with color: a01#black, and size: large, and price lower than 50.00 dollars); Action 4-1: R7 = Pick(Item_names: R1, Item_features: [R3, R6], Query: Find me slim fit, loose fit women's tops, tees & blouses with long sleeve, short sleeve with color: a01#black, and size: large, and price lower than 50.00 dollars).; Action 5-1: R8 = Click(< prev) || Action 5-2: R9 = Click(R7) || Action 5-3: R10 = Click(black) || Action 5-4: R11 = Click(large) || Action 5-5: R12 = Click(x-large) || Action 5-6: R13 = Click(buy now).",
    },
    {
        "instruction": "Find me ready hang wall art with solid wood for living room with color: turtles and african american couple, and size: 16x20 inch, and price lower than 70.00 dollars",
        "actions": "Action 1-1: R1 = Search(Find me ready hang wall art with solid wood for living room with color: turtles and african american couple, and size: 16x20 inch, and price lower than 70.00 dollars).; Action 2-1: R2 = Click(b099wh1rtm) || Action 2-2: R3 = FeatureRetrieve(R2, Query: Find me ready hang wall art with solid wood for living room with color: turtles and african american couple, and size: 16x20 inch, and price lower than 70.00 dollars).; Action 3-1: R4 = Click(< prev) || Action 3-2: R5 = Click(b092qqbw4y) || Action 3-3: R6 = FeatureRetrieve(R5, Query: Find me ready hang wall art with solid wood for living room with color: turtles and african american couple, and size: 16x20 inch, and price lower than 70.00 dollars).; Action 4-1: R7 = Pick(Item_names: R1, Item_features: [R3, R6], Query: Find me ready hang wall art with solid wood for living room with color: turtles and african american couple, and size: 16x20 inch, and price lower than 70.00 dollars).; Action 5-1: R8 = Click(< prev) || Action 5-2: R9 = Click(R7) || Action 5-3: R10 = Click(turtles and african american couple) || Action 5-4: R11 = Click(16x20 inch) || Action 5-5: R12 = Click(buy now).",
    },
]
