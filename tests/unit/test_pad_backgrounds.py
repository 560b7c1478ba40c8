"""b_auto's colour choice and b_blurred's canvas, on images built in memory."""

import pyvips

from medialoom.transform import backgrounds


def solid(width: int, height: int, colour: list[int]) -> pyvips.Image:
    return pyvips.Image.black(width, height).new_from_image(colour).copy(interpretation="srgb").cast("uchar")


def framed() -> pyvips.Image:
    """A 200x200 green square inside a 20-pixel blue frame: the frame is the border, green the bulk."""
    return solid(240, 240, [0, 0, 255]).insert(solid(200, 200, [0, 200, 0]), 20, 20)


def test_border_mode_reads_the_frame_and_predominant_the_whole_image():
    assert backgrounds.auto_color(framed(), None) == (0, 0, 255)
    assert backgrounds.auto_color(framed(), "border") == (0, 0, 255)
    assert backgrounds.auto_color(framed(), "predominant") == (0, 200, 0)


def test_contrast_modes_take_the_opposite_colour_when_it_stands_out():
    assert backgrounds.auto_color(framed(), "border_contrast") == (255, 255, 0)
    # Green's opposite (255, 55, 255) is about as light as green itself: black stands out more.
    assert backgrounds.auto_color(framed(), "predominant_contrast") == (0, 0, 0)


def test_mid_grey_contrasts_with_black_or_white_not_with_itself():
    assert backgrounds.contrasting_color((128, 128, 128)) == (0, 0, 0)
    assert backgrounds.contrasting_color((100, 100, 100)) == (255, 255, 255)


def test_transparent_pixels_do_not_vote():
    image = solid(100, 100, [255, 0, 0, 0]).insert(solid(50, 50, [0, 0, 255, 255]), 25, 25)
    assert backgrounds.auto_color(image, "predominant") == (0, 0, 255)
    assert backgrounds.auto_color(solid(10, 10, [9, 9, 9, 0]), None) == (255, 255, 255)


def test_grey_images_give_grey_colours():
    grey = pyvips.Image.black(50, 50).new_from_image([70]).copy(interpretation="b-w").cast("uchar")
    assert backgrounds.auto_color(grey, None) == (70, 70, 70)


def test_blurred_canvas_covers_the_size_asked_and_shifts_brightness():
    image = solid(300, 100, [100, 100, 100])
    canvas = backgrounds.blurred_canvas(image, 500, 700, None, None)
    assert (canvas.width, canvas.height, canvas.bands) == (500, 700, 3)
    assert [round(v) for v in canvas.getpoint(250, 350)] == [100, 100, 100]
    darker = backgrounds.blurred_canvas(image, 500, 700, 400, -50)
    assert [round(v) for v in darker.getpoint(250, 350)] == [36, 36, 36]


def test_blurred_canvas_of_a_transparent_image_is_opaque():
    canvas = backgrounds.blurred_canvas(solid(40, 40, [0, 0, 0, 0]), 80, 80, 100, 0)
    assert canvas.bands == 3
    assert [round(v) for v in canvas.getpoint(40, 40)] == [255, 255, 255]
