"""Index groups of the mediapipe face mesh and the iBUG-68 correspondence (see
shared/specs/mediapipe_to_ibug68.md). Contours run in the order given; "Left"/"Right" are the
subject's own sides.
"""

MP_RIGHT_EYE_LOWER = (33, 7, 163, 144, 145, 153, 154, 155, 133)  # outer corner -> inner corner
MP_RIGHT_EYE_UPPER = (33, 246, 161, 160, 159, 158, 157, 173, 133)
MP_LEFT_EYE_LOWER = (263, 249, 390, 373, 374, 380, 381, 382, 362)
MP_LEFT_EYE_UPPER = (263, 466, 388, 387, 386, 385, 384, 398, 362)
MP_RIGHT_IRIS = (468, 469, 470, 471, 472)  # centre, then image-right, top, image-left, bottom edge
MP_LEFT_IRIS = (473, 474, 475, 476, 477)
MP_RIGHT_BROW_UPPER = (70, 63, 105, 66, 107)  # outer -> inner
MP_RIGHT_BROW_LOWER = (46, 53, 52, 65, 55)
MP_LEFT_BROW_UPPER = (300, 293, 334, 296, 336)
MP_LEFT_BROW_LOWER = (276, 283, 282, 295, 285)
MP_LIPS_OUTER_UPPER = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291)  # right corner -> left corner
MP_LIPS_OUTER_LOWER = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291)
MP_LIPS_INNER_UPPER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
MP_LIPS_INNER_LOWER = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)
MP_FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
                152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109)  # top, then toward the subject's left
MP_NOSE_BRIDGE = (168, 6, 197, 195, 5, 4)  # top -> tip, on the midline
MP_NOSE_BASE = (75, 97, 2, 326, 305)  # right alar base -> subnasale -> left alar base

# iBUG-68 (0-based) as mediapipe indices: list A of the fact sheet, with list B's brow ends (70, 300),
# which lie on mediapipe's brow contour.
IBUG68_FROM_MEDIAPIPE = (
    162, 234, 93, 58, 172, 136, 149, 148, 152, 377, 378, 365, 397, 288, 323, 454, 389,
    70, 63, 105, 66, 107, 336, 296, 334, 293, 300,
    168, 197, 5, 4, 75, 97, 2, 326, 305,
    33, 160, 158, 133, 153, 144, 362, 385, 387, 263, 373, 380,
    61, 39, 37, 0, 267, 269, 291, 405, 314, 17, 84, 181,
    78, 82, 13, 312, 308, 317, 14, 87,
)


def mediapipe_mirror() -> dict[int, int]:
    """Left-right twin of every mediapipe index in the groups above (midline points map to themselves)."""
    pairs = {}
    sided = [(MP_RIGHT_EYE_LOWER, MP_LEFT_EYE_LOWER), (MP_RIGHT_EYE_UPPER, MP_LEFT_EYE_UPPER),
             (MP_RIGHT_IRIS, MP_LEFT_IRIS), (MP_RIGHT_BROW_UPPER, MP_LEFT_BROW_UPPER),
             (MP_RIGHT_BROW_LOWER, MP_LEFT_BROW_LOWER)]
    for right, left in sided:
        for r, l in zip(right, left):
            pairs[r], pairs[l] = l, r
    for contour in (MP_LIPS_OUTER_UPPER, MP_LIPS_OUTER_LOWER, MP_LIPS_INNER_UPPER, MP_LIPS_INNER_LOWER, MP_NOSE_BASE):
        for a, b in zip(contour, contour[::-1]):
            pairs[a] = b
    for k, index in enumerate(MP_FACE_OVAL):
        pairs[index] = MP_FACE_OVAL[-k % len(MP_FACE_OVAL)]
    for index in MP_NOSE_BRIDGE:
        pairs[index] = index
    return pairs
