#!/bin/sh
# Generates the looped clips the simulated cameras serve. Run once; the output
# is committed and embedded (go:embed), so builds and tests never need ffmpeg.
#
# Why these settings: 2 s at 25 fps keeps the files small; keyint=25 gives a
# keyframe every second like a real camera; no B-frames (cameras rarely use
# them, and PTS=DTS lets the sim stamp frames by index); SPS/PPS repeated and
# an AUD before every access unit so the sim can split the Annex-B stream into
# access units without parsing slices, and a reader can join at any keyframe.
set -eu
cd "$(dirname "$0")"
FONT=${FONT:-/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf}
DUR=2
FPS=25

clip() { # codec size bitrate out
  codec=$1 size=$2 rate=$3 out=$4
  w=${size%x*}
  fs=$((w / 16))
  vf="drawtext=fontfile=$FONT:timecode='00\:00\:00\:00':rate=$FPS:fontsize=$fs:fontcolor=white:box=1:boxcolor=black@0.6:x=(w-tw)/2:y=h/8,drawtext=fontfile=$FONT:text='vigil sim $codec $size':fontsize=$((fs/2)):fontcolor=yellow:box=1:boxcolor=black@0.6:x=10:y=h-th-10"
  params="keyint=$FPS:min-keyint=$FPS:scenecut=0:bframes=0:aud=1:repeat-headers=1"
  if [ "$codec" = h264 ]; then
    enc="-c:v libx264 -profile:v main -x264-params $params -f h264"
  else
    enc="-c:v libx265 -x265-params $params:log-level=error -f hevc"
  fi
  # shellcheck disable=SC2086
  ffmpeg -hide_banner -loglevel error -y -f lavfi -i "testsrc2=size=$size:rate=$FPS:duration=$DUR" \
    -vf "$vf" -pix_fmt yuv420p -b:v "$rate" -maxrate "$rate" -bufsize "$rate" $enc "$out"
}

clip h264 1280x720 600k h264_1280x720.h264
clip h264 640x360 250k h264_640x360.h264
clip h265 1280x720 400k h265_1280x720.h265
clip h265 640x360 150k h265_640x360.h265
# G.711 mu-law, 8 kHz mono: a beep per second, same length as the video loop.
ffmpeg -hide_banner -loglevel error -y -f lavfi -i "sine=frequency=880:beep_factor=4:duration=$DUR:sample_rate=8000" \
  -ac 1 -ar 8000 -f mulaw g711u_8000.ulaw
# AAC-LC, 16 kHz mono, ADTS: the same beep, pre-encoded so the simulator needs
# no encoder (CameraSpec.AudioCodec "aac").
ffmpeg -hide_banner -loglevel error -y -f lavfi -i "sine=frequency=880:beep_factor=4:duration=$DUR:sample_rate=16000" \
  -ac 1 -ar 16000 -c:a aac -b:a 32k -f adts aac_16000.aac
ls -l
